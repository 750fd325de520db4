"""What a suite of checks of our own code found: the GPU suite (gpu_suite.py) and the MPI
suite (mpi_suite.py) are library code, so that the tests and `oraclenet verify` run the same
checks, from a clone or from the installed wheel.

A check returns Findings (judge/finding.py): each one thing judged, with its path (check /
case / ranks / step / block), whether it is as it must be, and its text. An honest run's
verdict must pass; a planted bug's worst verdict must fail by teeth.min_bug_ratio or more; a
fact (every element written, a byte count) must hold. They become text, JSON or a table
only at the edge.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import tempfile
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from ..judge.finding import Finding, fact, from_verdict
from ..judge.tolerances import tolerance
from ..judge.verdict import Verdict

__all__ = ["Finding", "SuiteRun", "fact", "failed_text", "failures", "guarded", "honest", "message",
           "planted", "read", "run_suite", "under", "write"]


def honest(path: str, verdicts: Iterable[Verdict]) -> list[Finding]:
    """Each verdict of correct code must pass."""
    return [from_verdict(path, v) for v in verdicts]


def planted(path: str, verdicts: Iterable[Verdict]) -> Finding:
    """A planted bug's worst verdict must fail by teeth.min_bug_ratio or more."""
    worst = max(verdicts, key=lambda v: v.ratio, default=None)
    if worst is None:
        return Finding(path, "missed", "no verdict was made", ok=False, bug=True)
    needed = tolerance("teeth.min_bug_ratio")
    if not worst.passed and worst.ratio >= needed:
        return replace(from_verdict(path, worst, ok=True, bug=True), word="caught")
    return Finding(path, "missed", f"caught only by a ratio of {worst.ratio:.3g} (needed "
                   f"{needed:g}): {worst}", False, worst.check, worst.ratio, bug=True)


def guarded(where: str, check: Callable[[], list[Finding]], who: str = "") -> list[Finding]:
    """check()'s findings, their paths under `where`; an exception, or nothing judged, is a
    failed finding (a crash is never a pass)."""
    try:
        found = check()
    except Exception as e:  # the suite reports every check, whatever one of them does
        return [fact(where, False, f"{who}raised {type(e).__name__}: {e}")]
    return under(where, found) if found else [fact(where, False, "judged nothing")]


def under(prefix: str, findings: Iterable[Finding]) -> list[Finding]:
    """The findings with `prefix/` before their paths."""
    return [replace(f, path=f"{prefix}/{f.path}".rstrip("/")) for f in findings]


def failures(findings: Iterable[Finding]) -> list[Finding]:
    return [f for f in findings if not f.ok]


def message(findings: Iterable[Finding]) -> str:
    """The failing findings as text, one block each, for an assertion or a report."""
    return "\n".join(str(f) for f in failures(findings))


def failed_text(findings: Iterable[Finding], shown: int = 10) -> str:
    """For a report: the first `shown` failing findings, each with its path, or "" when
    none failed."""
    bad = failures(findings)
    if not bad:
        return ""
    lines = [f"{len(bad)} findings failed; the first {min(shown, len(bad))}, each with its "
             "path (check / case / ranks / step / block) and its verdict:", "", "```"]
    lines += [str(f) for f in bad[:shown]] + ["```", ""]
    return "\n".join(lines)


def write(path: Path, findings: Iterable[Finding]) -> None:
    path.write_text("".join(json.dumps(f.as_json()) + "\n" for f in findings))


def read(path: Path) -> list[Finding]:
    return [Finding(**json.loads(line)) for line in path.read_text().splitlines()]


@dataclass(frozen=True)
class SuiteRun:
    """A suite run in a process of its own: passed only when it exited 0 having judged
    something and no finding failed."""

    passed: bool
    findings: tuple[Finding, ...]
    summary: str  # "212 findings, 0 failed", or why there are none

    def ratios(self) -> list[dict]:
        """The verdicts' ratios, for common/report.py's ratio_table."""
        return [f.as_json() for f in self.findings if f.check is not None]


def run_suite(command: Sequence[str], timeout: float,
              progress: Callable[[str], None] | None = None) -> SuiteRun:
    """`command OUT`, OUT a temporary file the suite writes its findings to, its process group
    ended after `timeout` seconds; each line it prints that starts with "[" (its progress,
    "[3/70] name: pass") goes to `progress` as it comes. A timeout, a crash or a run that
    wrote nothing fails, with the end of its output as the summary."""
    with tempfile.TemporaryDirectory(prefix="oraclenet-suite-") as folder:
        out_file = Path(folder) / "findings.jsonl"
        fired = threading.Event()

        def expire(child: subprocess.Popen) -> None:
            fired.set()
            _end_group(child)

        lines = []
        with subprocess.Popen([*command, str(out_file)], stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True,
                              start_new_session=True) as child:
            timer = threading.Timer(timeout, expire, (child,))
            timer.start()
            try:
                for line in child.stdout:
                    lines.append(line.rstrip())
                    if progress is not None and line.startswith("["):
                        progress(line.rstrip())
                returncode = child.wait()
            finally:
                timer.cancel()
                _end_group(child)  # nothing of it outlives the run
        if fired.is_set():
            return SuiteRun(False, (), f"timed out after {timeout:g} s")
        findings = tuple(read(out_file)) if out_file.is_file() else ()
    bad = failures(findings)
    if not findings:
        return SuiteRun(False, (), f"exit code {returncode}, no findings: "
                        + " / ".join(lines[-5:]))
    summary = f"{len(findings)} findings, {len(bad)} failed"
    if returncode != 0 and not bad:
        summary += f", but exit code {returncode}"
    return SuiteRun(returncode == 0 and not bad, findings, summary)


def _end_group(child: subprocess.Popen) -> None:
    try:
        os.killpg(child.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
