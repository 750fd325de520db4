"""What a check shows: a table on the terminal, and with --report DIR report.md, report.json
and, for each failing case with a map, a heat map of log10(error / allowed) over C (a missing
edge row or a dropped tile shows at a glance). Every file is written whole or not at all."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..common.files import Folder, save_figure, write_json, write_text
from ..common.report import table
from .runner import Outcome

HEADER = ["case", "shape", "verdict", "rigorous", "statistical", "precision", "worst at"]


def _g(x: float | None) -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.3g}"


def row(o: Outcome) -> list[str]:
    """One line of the table: the case's worst verdict, or why it has none."""
    v = o.worst
    if v is None:
        return [o.case, o.shape, o.status, "-", "-", "-", o.message]
    p = v.precision
    precision = "-" if p is None else (
        f"{'>=' if p.lower_bound else ''}{p.effective_bits:.1f} bits, {p.model}")
    where = (f"{v.check} {list(v.index)}: {v.actual!r} vs {v.expected!r}"
             if v.size else v.check)
    return [o.case, o.shape, o.status, _g(v.rigorous_ratio), _g(v.statistical_ratio),
            precision, where]


def terminal(outcomes: Sequence[Outcome], most: int | None = None) -> str:
    """The table as aligned plain text, and a summary line; beyond `most` cases, only the
    first `most` that did not pass."""
    shown = outcomes if most is None or len(outcomes) <= most else [
        o for o in outcomes if not o.passed][:most]
    rows = [HEADER, *(row(o) for o in shown)]
    widths = [max(len(r[i]) for r in rows) for i in range(len(HEADER) - 1)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=False)) + "  " + r[-1]
             for r in rows]
    hidden = len(outcomes) - len(shown)
    note = f"({hidden} more cases not shown: see --report)\n" if hidden else ""
    return "\n".join(lines) + "\n" + note + summary(outcomes)


def summary(outcomes: Sequence[Outcome]) -> str:
    bad = [o for o in outcomes if not o.passed]
    if not bad:
        return f"PASS: {len(outcomes)} of {len(outcomes)} cases"
    first = bad[0]
    detail = str(first.worst) if first.worst is not None else first.message
    return (f"FAIL: {len(bad)} of {len(outcomes)} cases; first: {first.case} "
            f"({first.shape}): {detail}")


def _slug(text: str) -> str:
    return re.sub(r"[^0-9A-Za-z]+", "-", text).strip("-").lower()[:60]


def heat_map(o: Outcome, path: Path) -> None:
    """log10(error / allowed) over C, one pixel per element; above 0 is outside the bound."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with np.errstate(divide="ignore"):
        logs = np.log10(np.where(o.ratio_map > 0, o.ratio_map, np.nan))
    logs = np.where(np.isinf(logs), 20.0, logs)  # NaN or infinite results: off the scale
    M, N = logs.shape
    fig, ax = plt.subplots(figsize=(7, max(3.0, min(9.0, 7 * M / max(N, 1)))))
    image = ax.imshow(logs, cmap="magma", vmin=-6, vmax=6, aspect="auto",
                      interpolation="nearest")
    fig.colorbar(image, ax=ax, label="log10(error / allowed); > 0 fails (20: NaN/inf)")
    ax.set_title(f"{o.case} ({o.shape})", fontsize=9)
    ax.set_xlabel("column of C")
    ax.set_ylabel("row of C")
    save_figure(fig, path)
    plt.close(fig)


def folder(out: Path, figures: Sequence[str] = ()) -> Folder:
    """The report folder: report.md, report.json, the figures named, and the heat maps."""
    return Folder(Path(out), ("report.md", "report.json", *figures), ("heatmap-*.png",))


def write_report(outcomes: Sequence[Outcome], out: Path, title: str, command: str,
                 figures: Sequence[str] = ()) -> None:
    """OUT/report.md, report.json and a heat map per failing case that has one; figures
    already in OUT are shown after the verdict. Heat maps of an earlier report are removed."""
    where = folder(out, figures)
    where.check()
    maps = {}
    for i, o in enumerate(outcomes):
        if not o.passed and o.ratio_map is not None:
            name = f"heatmap-{i:03d}-{_slug(o.case)}.png"
            heat_map(o, where.file(name))
            maps[i] = name
    where.tidy(maps.values())
    passed = all(o.passed for o in outcomes)
    lines = [f"# {title}", "", f"Made by `{command}`.", "",
             f"Verdict: **{'PASS' if passed else 'FAIL'}**: {summary(outcomes)}", "",
             *(f"![{name}]({name})\n" for name in figures),
             table(HEADER, [[c.replace("|", "\\|") for c in row(o)] for o in outcomes]), ""]
    for i, o in enumerate(outcomes):
        if not o.passed:
            lines += [f"## {o.case} ({o.shape}): {o.status}", ""]
            lines += [f"- {v}" for v in o.verdicts if not v.passed] or [f"- {o.message}"]
            if i in maps:
                lines += ["", f"![heat map]({maps[i]})"]
            lines.append("")
    write_json(where.file("report.json"), {
        "command": command, "passed": passed,
        "files": ["report.md", "report.json", *figures, *maps.values()],
        "cases": [{"case": o.case, "shape": o.shape, "status": o.status,
                   "message": o.message, "seconds": o.seconds, "heat_map": maps.get(i),
                   "verdicts": [verdict_json(v) for v in o.verdicts]}
                  for i, o in enumerate(outcomes)]})
    write_text(where.file("report.md"), "\n".join(lines))


def verdict_json(v) -> dict:
    p = v.precision
    return {"check": v.check, "passed": v.passed, "ratio": v.ratio, "tier": v.tier,
            "rigorous_ratio": v.rigorous_ratio, "statistical_ratio": v.statistical_ratio,
            "index": list(v.index), "actual": v.actual, "expected": v.expected,
            "error": v.error, "allowed": v.allowed, "n_failed": v.n_failed, "size": v.size,
            "precision": None if p is None else {
                "effective_bits": p.effective_bits, "model": p.model, "declared": p.declared,
                "ratio": p.ratio, "lower_bound": p.lower_bound, "evidence": p.evidence}}
