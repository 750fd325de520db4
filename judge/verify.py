"""The verify report's section on the gradient check of the oracle's backpropagation."""

from __future__ import annotations

from pathlib import Path

from ..common.report import Say, Section, table, verdict_word
from . import gradcheck

TITLE = "Gradient check of the oracle's backpropagation"


def section(out: Path, say: Say) -> Section:
    """Run the check at gradcheck.Settings' defaults; the full report goes to OUT/gradcheck."""
    settings = gradcheck.Settings()
    say(f"central differences on every entry, H = {settings.hidden}, batch {settings.batch}")
    report = gradcheck.run(settings)
    gradcheck.write_report(report, out / "gradcheck")
    failed = [e for e in report.entries if not e.passed]
    sweeps = [(w.block, f"{w.best_h:.0e}", f"{w.best_error:.2e}",
               "n/a" if w.slope is None else f"{w.slope:.2f}", "pass" if w.passed else "FAIL")
              for w in [*report.sweeps, report.whole]]
    body = f"""Verdict: **{verdict_word(report.passed)}**. Central differences on every entry of
W1, b1, W2, b2 (784 -> {settings.hidden} -> 10, batch {settings.batch}, lambda
{settings.reg}), for the total loss, its data term and its L2 term:
{len(report.entries) - len(failed)} of {len(report.entries)} block/term checks pass.
Full report: [gradcheck/report.md](gradcheck/report.md).

{table(["direction", "best h", "relative error there", "truncation slope", "verdict"], sweeps)}

![V-curve](gradcheck/gradcheck.png)
"""
    return Section(TITLE, body, report.passed)
