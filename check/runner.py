"""Runs the cases of a check one at a time in a child process, each with a timeout, so that a
hung or crashing implementation ends as one case's outcome instead of hanging the check.

The child is forked: it inherits the implementation already loaded (a callable from Python
too, which could not be pickled) and runs the cases in order, sending each Outcome back; a
case that passes its timeout or kills the child is recorded as such, and a new child goes on
from the next case. Fork before anything initialises CUDA in this process (the check never
does): a CUDA context does not survive a fork.
"""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from ..gpu.target import tune_simulator
from ..judge.verdict import Verdict

STATUSES = ("pass", "FAIL", "timeout", "error")


@dataclass
class Outcome:
    """One case: its verdicts (the worst decides), or why it has none (timeout, an exception
    from the implementation), and for a failing GEMM the map of error / allowed over C."""

    case: str
    shape: str
    status: str
    verdicts: list[Verdict] = field(default_factory=list)
    message: str = ""
    ratio_map: np.ndarray | None = None
    seconds: float = 0.0

    @property
    def worst(self) -> Verdict | None:
        return max(self.verdicts, key=lambda v: v.ratio, default=None)

    @property
    def passed(self) -> bool:
        return self.status == "pass"


def judged(case: str, shape: str, verdicts: list[Verdict], ratio_map=None) -> Outcome:
    passed = all(v.passed for v in verdicts)
    return Outcome(case, shape, "pass" if passed else "FAIL", verdicts,
                   ratio_map=None if passed else ratio_map)


def _one_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0] if text else ''}".rstrip(": ")


def _safe(run: Callable[[object], Outcome], case, name: str, shape: str) -> Outcome:
    began = time.perf_counter()
    try:
        outcome = run(case)
    except Exception as err:  # the implementation under test may raise anything
        outcome = Outcome(name, shape, "error", message=_one_line(err))
    outcome.seconds = time.perf_counter() - began
    return outcome


def _child(run, cases, names, shapes, start: int, conn) -> None:
    tune_simulator()  # the library's and the plugin's callers keep their own interpreter
    for i in range(start, len(cases)):
        conn.send(("start", i))
        conn.send(("done", _safe(run, cases[i], names[i], shapes[i])))
    conn.close()


def run_cases(run: Callable[[object], Outcome], cases: Sequence, names: Sequence[str],
              shapes: Sequence[str], timeout: float | None,
              say: Callable[[Outcome], None] = lambda o: None) -> list[Outcome]:
    """Each case through `run`, in a forked child with `timeout` seconds per case (None: in
    this process, without one). `say` hears of each outcome as it comes."""
    outcomes: list[Outcome] = []
    if timeout is None:
        for case, name, shape in zip(cases, names, shapes, strict=True):
            outcomes.append(_safe(run, case, name, shape))
            say(outcomes[-1])
        return outcomes
    context = multiprocessing.get_context("fork")
    while len(outcomes) < len(cases):
        start = len(outcomes)
        parent, child_end = context.Pipe(duplex=False)
        child = context.Process(target=_child, args=(run, cases, names, shapes, start,
                                                     child_end), daemon=True)
        child.start()
        child_end.close()
        current, began = start, time.monotonic()
        while len(outcomes) < len(cases):
            left = timeout - (time.monotonic() - began)
            if not parent.poll(max(left, 0.0)):
                child.kill()
                outcomes.append(Outcome(names[current], shapes[current], "timeout",
                                        message=f"no result within {timeout:g} s",
                                        seconds=timeout))
                say(outcomes[-1])
                break
            try:
                kind, value = parent.recv()
            except (EOFError, OSError):
                child.join()
                outcomes.append(Outcome(names[current], shapes[current], "error",
                                        message=_death(child.exitcode)))
                say(outcomes[-1])
                break
            if kind == "start":
                current, began = value, time.monotonic()
            else:
                outcomes.append(value)
                say(value)
        child.join(timeout=5)
        if child.is_alive():
            child.kill()
        parent.close()
    return outcomes


def _death(exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        return f"the implementation killed its process (signal {-exitcode})"
    return f"the implementation ended its process (exit code {exitcode})"


def exit_code(outcomes: Sequence[Outcome]) -> int:
    """0 when every case passed, else 1."""
    return 0 if all(o.passed for o in outcomes) else 1


@dataclass(frozen=True)
class Battery:
    """The cases of one check and the function that runs a case against the implementation:
    what the command, the library (check_gemm) and the pytest plugin all run."""

    title: str
    cases: Sequence
    run: Callable[[object], Outcome]

    def names(self) -> list[str]:
        return [c.name for c in self.cases]

    def shapes(self) -> list[str]:
        return [c.shape for c in self.cases]

    def check(self, timeout: float | None,
              say: Callable[[Outcome], None] = lambda o: None) -> list[Outcome]:
        return run_cases(self.run, self.cases, self.names(), self.shapes(), timeout, say)

    def one(self, i: int, timeout: float | None) -> Outcome:
        """Case i alone (the plugin's test items)."""
        return run_cases(self.run, self.cases[i:i + 1], self.names()[i:i + 1],
                         self.shapes()[i:i + 1], timeout)[0]
