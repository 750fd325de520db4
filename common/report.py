"""Pieces of the reports: a section of the verify report, as every room's verify.py returns
it, markdown tables, and running the repository's own test suites (the GPU and MPI sections
run them, so those need a checkout, not only the installed package)."""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

# The checkout this package was installed from (editable), else site-packages/oraclenet.
ROOT = Path(__file__).resolve().parent.parent

Say = Callable[[str], None]  # how a section reports its progress
# Set to a folder, the GPU and MPI suites leave one JSON line per verdict they judge there
# (tests/ratios.py), for their sections' tables of ratios.
RATIOS_ENV = "ORACLENET_RATIOS"


@dataclass(frozen=True)
class Section:
    """One section of the verify report: its title (the driver numbers it), its markdown
    body (links relative to the report's folder), and its verdict."""

    title: str
    body: str
    passed: bool


def table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def verdict_word(passed: bool) -> str:
    return "PASS" if passed else "FAIL"


def tests_dir() -> Path:
    """The repository's tests, or a FileNotFoundError that says where they are missing."""
    tests = ROOT / "tests"
    if not (tests / "conftest.py").is_file():
        raise FileNotFoundError(f"{tests}: no test suite here; this part of the verify report "
                                "runs the repository's tests: run it from a clone of oraclenet")
    return tests


@dataclass(frozen=True)
class SuiteRun:
    """A pytest run: passed, its summary line, its whole output."""

    passed: bool
    summary: str
    output: str
    ratios: tuple[dict, ...] = ()  # the verdicts the suite recorded: check, ratio, bug


def run_pytest(*args: str, launcher: Sequence[str] = (), python: Sequence[str] = (),
               env: dict | None = None, timeout: float = 1800, quiet: bool = True) -> SuiteRun:
    """`launcher python -m pytest args` in the repository root; launcher is e.g. `mpiexec -n
    P`, python the interpreter and its options (default: this one)."""
    tests_dir()
    command = [*launcher, *(python or [sys.executable]), "-m", "pytest",
               *(["-q"] if quiet else []), "-p", "no:cacheprovider", *args]
    with tempfile.TemporaryDirectory(prefix="oraclenet-ratios-") as folder:
        out = subprocess.run(command, capture_output=True, text=True, cwd=ROOT,
                             env=(os.environ if env is None else env) | {RATIOS_ENV: folder},
                             timeout=timeout)
        ratios = tuple(json.loads(line) for path in sorted(Path(folder).glob("*.jsonl"))
                       for line in path.read_text().splitlines())
    summary = re.findall(r"\d+ (?:passed|failed|skipped|error)[^\n]*", out.stdout)
    return SuiteRun(out.returncode == 0,
                    summary[-1].strip("= ") if summary else out.stderr[-300:], out.stdout,
                    ratios)


def ratio_table(ratios: Sequence[dict]) -> str:
    """Per verdict check: how many correct runs and planted bugs the suites judged, the worst
    ratio of a correct run (1 is its bound) and the smallest of a bug (its worst verdict)."""
    checks = sorted({r["check"] for r in ratios})
    rows = []
    for check in checks:
        correct = [r["ratio"] for r in ratios if r["check"] == check and not r["bug"]]
        bugs = [r["ratio"] for r in ratios if r["check"] == check and r["bug"]]
        rows.append((check, len(correct), _g(max(correct, default=math.nan)), len(bugs),
                     _g(min(bugs, default=math.nan))))
    return table(["verdict", "correct runs judged", "worst correct ratio", "planted bugs",
                  "smallest bug ratio"], rows)


def _g(x: float) -> str:
    return "-" if math.isnan(x) else f"{x:.3g}"
