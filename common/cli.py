"""Command-line helpers every command shares: the exit codes, a parser whose errors are one
line, and argument types that name the flag and the value at fault."""

from __future__ import annotations

import argparse
import sys

# 0: done, every verdict passed; 1: a verdict or target failed; 2: bad flags or input;
# 3: training diverged (a non-finite loss or parameter); 4: an MPI rank stalled; 5: nothing
# failed, but not every case was judged (Numba's simulator cannot run the code).
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_DIVERGED, EXIT_STALLED, EXIT_NOT_JUDGED = range(6)


class UsageError(ValueError):
    """A bad flag or value; `prog` is the (sub)command whose parser found it."""

    def __init__(self, message: str, prog: str = "oraclenet"):
        super().__init__(message)
        self.prog = prog


class OneLineParser(argparse.ArgumentParser):
    """argparse, but an error raises UsageError (one line naming the flag at fault) instead of
    printing usage and exiting, so that MPI ranks can agree on it before anyone exits."""

    def error(self, message: str) -> None:
        raise UsageError(f"{message} (see --help)", self.prog)


def say_error(prog: str, error: object) -> int:
    """One line on stderr; returns EXIT_USAGE."""
    print(f"{prog}: error: {error}", file=sys.stderr)
    return EXIT_USAGE


def _int_at_least(text: str, low: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= {low}, got {text!r}") from None
    if value < low:
        raise argparse.ArgumentTypeError(f"must be an integer >= {low}, got {value}")
    return value


def positive_int(text: str) -> int:
    return _int_at_least(text, 1)


def nonnegative_int(text: str) -> int:
    return _int_at_least(text, 0)


def _float_in(text: str, low: float, low_open: bool) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not (value > low if low_open else value >= low) or value != value or value == float("inf"):
        bound = f"> {low}" if low_open else f">= {low}"
        raise argparse.ArgumentTypeError(f"must be a finite number {bound}, got {text}")
    return value


def finite_float(text: str) -> float:
    """Any finite number (NaN and the infinities are refused)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if value != value or abs(value) == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {text}")
    return value


def positive_float(text: str) -> float:
    return _float_in(text, 0.0, low_open=True)


def nonnegative_float(text: str) -> float:
    return _float_in(text, 0.0, low_open=False)
