"""What a JSON object read from a file must hold, key by key: run.json (check/run.py), a
baseline's subjects (regress/baseline.py). A rule is (required, test, what it must be); a
value that fails its rule is a ValueError naming the file, the key and the value. JSON's
NaN and Infinity are never a valid number."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping
from pathlib import Path

Rule = tuple[bool, Callable[[object], bool], str]


def _real(v) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def integer(low: int, high: int | None = None, required: bool = True) -> Rule:
    def valid(v) -> bool:
        return (isinstance(v, int) and not isinstance(v, bool) and v >= low
                and (high is None or v <= high))
    return required, valid, f"an integer >= {low}" + ("" if high is None else f" and <= {high}")


def number(low: float, low_open: bool, high: float | None = None, high_open: bool = False,
           required: bool = True) -> Rule:
    def valid(v) -> bool:
        return _real(v) and ((v > low if low_open else v >= low)
                             and (high is None or (v < high if high_open else v <= high)))
    ends = f"{'>' if low_open else '>='} {low:g}" + (
        "" if high is None else f" and {'<' if high_open else '<='} {high:g}")
    return required, valid, f"a finite number {ends}"


def optional_number(low: float, high: float) -> Rule:
    """A number in [low, high], or null."""
    rule = number(low, False, high)
    return True, lambda v: v is None or rule[1](v), f"null or {rule[2]}"


def one_of(*choices, required: bool = True) -> Rule:
    return required, lambda v: v in choices, "one of " + ", ".join(map(repr, choices))


def text(required: bool = True) -> Rule:
    return required, lambda v: isinstance(v, str) and v != "", "a non-empty string"


def numbers(low: float, high: float | None = None, ascending: bool = False,
            required: bool = True) -> Rule:
    """A list of finite numbers in [low, high] (strictly ascending where asked)."""
    def valid(v) -> bool:
        return (isinstance(v, list) and all(_real(x) and x >= low and (high is None or x <= high)
                                            for x in v)
                and (not ascending or all(a < b for a, b in itertools.pairwise(v))))
    ends = f">= {low:g}" + ("" if high is None else f" and <= {high:g}")
    return required, valid, f"a list of finite numbers {ends}" + (
        ", ascending" if ascending else "")


def validate(path: Path | str, where: str, obj, rules: Mapping[str, Rule]) -> None:
    """obj (a JSON object) against rules; `where` says which object ("" for the file's)."""
    at = f"{path}: {where}" if where else f"{path}:"
    if not isinstance(obj, dict):
        raise ValueError(f"{at} expected a JSON object, got {type(obj).__name__}")
    missing = [k for k, (required, _, _) in rules.items() if required and k not in obj]
    if missing:
        raise ValueError(f"{at} missing {', '.join(missing)}")
    for key, (_, valid, what) in rules.items():
        if key in obj and not valid(obj[key]):
            raise ValueError(f"{at} {key} must be {what}, got {obj[key]!r}")
