"""Runs the cases of a check one at a time in a child process, each with a timeout, so that a
hung or crashing implementation ends as one case's outcome instead of hanging the check.

The child is forked: it runs the cases in order, sending each Outcome back; a case that
passes its timeout or ends the child is recorded as such, and a new child goes on from the
next case (after a hang, the rest are skipped unless keep_going). Whatever the child prints,
its tracebacks included, goes to a file of its own, never to the user's terminal: the
outcome says what happened. The implementation is imported in the child (check/target.py).
Fork before anything initialises CUDA in this process (the check never does): a CUDA
context does not survive a fork.
"""

from __future__ import annotations

import faulthandler
import multiprocessing
import os
import signal
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from ..common.cli import EXIT_FAILED, EXIT_NOT_JUDGED, EXIT_OK
from ..gpu.target import simulator_cannot_run, tune_simulator
from ..judge.verdict import CannotJudge, Verdict

# "not run": a case that Numba's simulator cannot run, which is no verdict on the code
STATUSES = ("pass", "FAIL", "timeout", "error", "skipped", "not run")
JOIN_SECONDS = 5.0  # for a child that has said all it will say to exit before it is killed


@dataclass
class Outcome:
    """One case: its verdicts (the worst decides), or why it has none (timeout, an exception
    from the implementation, skipped), and for a failing GEMM the map of error / allowed over
    C."""

    case: str
    shape: str
    status: str
    verdicts: list[Verdict] = field(default_factory=list)
    message: str = ""
    ratio_map: np.ndarray | None = None
    unwritten: np.ndarray | None = None  # with the map: elements still holding C's old value
    seconds: float = 0.0

    @property
    def worst(self) -> Verdict | None:
        return max(self.verdicts, key=lambda v: v.ratio, default=None)

    @property
    def passed(self) -> bool:
        return self.status == "pass"


class BadResult(ValueError):
    """The implementation returned something that is not the result asked for (3 arrays
    instead of 4, a wrong shape): a FAIL of the case, not an error of the check."""


def judged(case: str, shape: str, verdicts: list[Verdict], ratio_map=None,
           unwritten=None) -> Outcome:
    passed = all(v.passed for v in verdicts)
    return Outcome(case, shape, "pass" if passed else "FAIL", verdicts,
                   ratio_map=None if passed else ratio_map,
                   unwritten=None if passed else unwritten)


def describe(err: BaseException) -> str:
    """What the implementation did, in one line."""
    if isinstance(err, SystemExit):
        return f"called sys.exit({err.code!r})"
    text = str(err).strip().splitlines()
    return f"raised {type(err).__name__}: {text[0] if text else ''}".rstrip(": ")


def death(exitcode: int | None) -> str:
    """How a child that said nothing more ended, in words."""
    if exitcode is not None and exitcode < 0:
        try:
            name = f", {signal.Signals(-exitcode).name}"
        except ValueError:
            name = ""
        return f"killed its process (signal {-exitcode}{name})"
    return f"ended its process (exit code {exitcode}) without a result"


def _safe(run: Callable[[object], Outcome], case, name: str, shape: str) -> Outcome:
    began = time.perf_counter()
    try:
        outcome = run(case)
    except BadResult as err:
        outcome = Outcome(name, shape, "FAIL", message=str(err))
    except CannotJudge as err:  # ours, not the implementation's: never a pass
        outcome = Outcome(name, shape, "error", message=str(err))
    except BaseException as err:  # the implementation may raise anything
        what = simulator_cannot_run(err)
        outcome = (Outcome(name, shape, "not run", message=f"not run: Numba's simulator cannot "
                           f"run {what}; this is not a verdict on your kernel")
                   if what else Outcome(name, shape, "error",
                                        message="the implementation " + describe(err)))
    outcome.seconds = time.perf_counter() - began
    return outcome


class _Child:
    """A forked child running work(send), its output in a file of its own."""

    def __init__(self, work: Callable[[Callable], None]):
        context = multiprocessing.get_context("fork")
        self.output = tempfile.TemporaryFile()
        self.parent, child_end = context.Pipe(duplex=False)
        self.process = context.Process(target=self._main, args=(work, child_end), daemon=True)
        self.process.start()
        child_end.close()

    def _main(self, work, conn) -> None:
        faulthandler.disable()  # a crash is the parent's to report, in one line
        # The parent decides: SIGTERM ends this child at once (not as an exception the
        # user's code could swallow), Ctrl-C is the parent's to handle (it kills the child).
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        for fd in (1, 2):  # the user's prints and any traceback: not the terminal
            os.dup2(self.output.fileno(), fd)
        code = 0
        try:
            tune_simulator()  # the library's and the plugin's callers keep their interpreter
            work(conn.send)
            conn.close()
        except BaseException:  # the connection itself may be gone
            code = 1
        os._exit(code)  # no atexit handlers of the user's, no multiprocessing traceback

    def receive(self, timeout: float | None):
        """("message", value), ("timeout", None) or ("ended", how the child ended), waiting
        at most timeout seconds (None: for ever)."""
        if not self.parent.poll(None if timeout is None else max(timeout, 0.0)):
            return "timeout", None
        try:
            return "message", self.parent.recv()
        except (EOFError, OSError):
            self.process.join(JOIN_SECONDS)
            if self.process.is_alive():  # it closed our pipe and went on
                self.process.kill()
                self.process.join()
                return "ended", "closed the check's connection to its process"
            return "ended", death(self.process.exitcode)
        except Exception as err:  # a result that does not unpickle
            return "ended", f"sent a result that cannot be read back ({type(err).__name__})"

    def close(self) -> None:
        self.process.join(JOIN_SECONDS)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()
        self.parent.close()
        self.output.close()


class ChildFailed(Exception):
    """in_child's work did not return: the message says what it did instead."""


def in_child(work: Callable[[], object], timeout: float | None, doing: str) -> object:
    """work() in a forked child within `timeout` seconds (None: no limit), and what it
    returned; ChildFailed("<doing> raised ...", "... called sys.exit(0)", "... killed its
    process (signal 11, SIGSEGV)", "... did not finish within 300 s") otherwise."""
    def run(send) -> None:
        try:
            send(("ok", work()))
        except BaseException as err:  # the user's code may raise anything
            send(("raised", describe(err)))

    child = _Child(run)
    try:
        kind, value = child.receive(timeout)
        if kind == "timeout":
            child.process.kill()
    except BaseException:  # SIGTERM's SystemExit, Ctrl-C: the child goes with the parent
        child.process.kill()
        raise
    finally:
        child.close()
    if kind == "timeout":
        raise ChildFailed(f"{doing} did not finish within {timeout:g} s")
    if kind == "ended":
        raise ChildFailed(f"{doing} {value}")
    status, result = value
    if status == "raised":
        raise ChildFailed(f"{doing} {result}")
    return result


SKIPPED = "not run: an earlier case hung (--keep-going runs every case)"


def run_cases(run: Callable[[object], Outcome], cases: Sequence, names: Sequence[str],
              shapes: Sequence[str], timeout: float | None,
              say: Callable[[Outcome], None] = lambda o: None,
              keep_going: bool = False) -> list[Outcome]:
    """Each case through `run`, in a forked child with `timeout` seconds per case (None: in
    this process, without one). After a case that hangs, the rest are skipped unless
    keep_going. `say` hears of each outcome as it comes."""
    outcomes: list[Outcome] = []

    def add(outcome: Outcome) -> None:
        outcomes.append(outcome)
        say(outcome)

    if timeout is None:
        for case, name, shape in zip(cases, names, shapes, strict=True):
            add(_safe(run, case, name, shape))
        return outcomes
    while len(outcomes) < len(cases):
        if not keep_going and any(o.status == "timeout" for o in outcomes):
            for i in range(len(outcomes), len(cases)):
                add(Outcome(names[i], shapes[i], "skipped", message=SKIPPED))
            break
        start = len(outcomes)

        def work(send, start=start) -> None:
            for i in range(start, len(cases)):
                send(("start", i))
                send(("done", _safe(run, cases[i], names[i], shapes[i])))

        child = _Child(work)
        current, began = start, time.monotonic()
        try:
            _collect(child, outcomes, add, len(cases), names, shapes, timeout, current, began)
        except BaseException:  # SIGTERM's SystemExit, Ctrl-C: the child goes with the parent
            child.process.kill()
            raise
        finally:
            child.close()
    return outcomes


def _collect(child: _Child, outcomes: list, add, total: int, names, shapes, timeout: float,
             current: int, began: float) -> None:
    """The outcomes one child sends, until it has sent them all, hangs past timeout or
    ends."""
    while len(outcomes) < total:
        kind, value = child.receive(timeout - (time.monotonic() - began))
        if kind == "timeout":
            child.process.kill()
            add(Outcome(names[current], shapes[current], "timeout",
                        message=f"no result within {timeout:g} s", seconds=timeout))
            return
        if kind == "ended":
            add(Outcome(names[current], shapes[current], "error",
                        message=f"the implementation {value}"))
            return
        what, found = value
        if what == "start":
            current, began = found, time.monotonic()
        else:
            add(found)


def exit_code(outcomes: Sequence[Outcome]) -> int:
    """0 when every case passed; 5 when none failed but some could not be run (the
    simulator's limits: nothing is known of those); else 1."""
    if all(o.passed or o.status == "not run" for o in outcomes):
        return EXIT_OK if all(o.passed for o in outcomes) else EXIT_NOT_JUDGED
    return EXIT_FAILED


@dataclass(frozen=True)
class Battery:
    """The cases of one check and the function that runs a case against the implementation:
    what the command, the library (check_gemm) and the pytest plugin all run."""

    title: str
    cases: Sequence
    run: Callable[[object], Outcome]
    note: str | None = None  # the cases left out, and why

    def names(self) -> list[str]:
        return [c.name for c in self.cases]

    def shapes(self) -> list[str]:
        return [c.shape for c in self.cases]

    def check(self, timeout: float | None, say: Callable[[Outcome], None] = lambda o: None,
              keep_going: bool = False) -> list[Outcome]:
        return run_cases(self.run, self.cases, self.names(), self.shapes(), timeout, say,
                         keep_going)

    def one(self, i: int, timeout: float | None) -> Outcome:
        """Case i alone (the plugin's test items)."""
        return run_cases(self.run, self.cases[i:i + 1], self.names()[i:i + 1],
                         self.shapes()[i:i + 1], timeout)[0]
