"""Pieces of the reports: a section of the verify report, as every room's verify.py returns
it, markdown tables and the table of a suite's ratios."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

# The checkout this package was installed from (editable), else site-packages/oraclenet.
ROOT = Path(__file__).resolve().parent.parent

Say = Callable[[str], None]  # how a section reports its progress


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
