"""What a check shows: a table on the terminal, and with --report DIR report.md, report.json
and, for each failing case with a map, a heat map of log10(error / allowed) over C (a missing
edge row or a dropped tile shows at a glance). Every file is written whole or not at all."""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..common.cli import EXIT_FAILED, EXIT_NOT_JUDGED, EXIT_OK
from ..common.files import Folder, save_figure, write_json, write_text
from ..common.report import table
from ..judge.finding import Finding, from_verdict
from .runner import Outcome, exit_code

HEADER = ["case", "shape", "verdict", "rigorous", "statistical", "precision", "cause",
          "worst at"]


def _g(x: float | None) -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.3g}"


def row(o: Outcome) -> list[str]:
    """One line of the table: the case's worst verdict, or why it has none."""
    v = shown(o)
    if v is None:
        return [o.case, o.shape, o.status, "-", "-", "-", "-", o.message]
    p = v.precision
    other = v.cause is not None and v.cause.name != "precision downgrade"
    precision = "-" if p is None else (
        f"{'>=' if p.lower_bound else ''}{p.effective_bits:.1f} bits"
        + ("" if other else f", {p.model}"))
    where = (f"{v.check} {list(v.index)}: {v.actual!r} vs {v.expected!r}"
             if v.size else v.check)
    return [o.case, o.shape, o.status, _g(v.rigorous_ratio), _g(v.statistical_ratio),
            precision, "-" if v.cause is None else v.cause.name, where]


def findings(outcomes: Sequence[Outcome]) -> list[Finding]:
    """What did not pass, as the one failure record (judge/finding.py) that the verify
    report's suites and the regression test's comparisons use: a failing verdict at its
    path case (shape) / block, or a case without a verdict (timeout, error, not run)."""
    found = []
    for o in outcomes:
        where = f"{o.case} ({o.shape})"
        if o.passed:
            continue
        bad = [v for v in o.verdicts if not v.passed]
        found += ([from_verdict(where, v) for v in bad] if bad else
                  [Finding(where, o.status, o.message, ok=False)])
    return found


def shown(o: Outcome):
    """The verdict a case is summed up by: its worst failing one, else its worst."""
    failing = [v for v in o.verdicts if not v.passed]
    return max(failing, key=lambda v: v.ratio) if failing else o.worst


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
    unrun = [o for o in outcomes if o.status == "not run"]
    bad = [o for o in outcomes if not o.passed and o.status != "not run"]
    if not bad:
        passed = len(outcomes) - len(unrun)
        return (f"PASS: {passed} of {len(outcomes)} cases" if not unrun else
                f"NOT JUDGED: {len(unrun)} of {len(outcomes)} cases not run ({passed} passed): "
                f"{unrun[0].message}")
    first = bad[0]
    detail = str(shown(first)) if first.verdicts else first.message
    skipped = sum(o.status == "skipped" for o in bad)
    text = (f"FAIL: {len(bad)} of {len(outcomes)} cases"
            f"{f' ({skipped} skipped after a hang)' if skipped else ''}; first: {first.case} "
            f"({first.shape}): {detail}")
    if len(bad) == len(outcomes) > 1 and all(o.status == "error" for o in bad) \
            and len({o.message for o in bad}) == 1:
        text += ("\nevery case failed alike before any verdict: the call itself may not match "
                 "the function (its signature and conventions: see --help; --abi and --dtype "
                 "for a compiled library)")
    telling = min(bad, key=_vagueness)
    if _vagueness(telling)[0] < _vagueness(first)[0]:  # the first says less than another
        v = shown(telling)
        text += (f"\nmost telling: {telling.case} ({telling.shape}): cause: {v.cause.name}: "
                 f"{v.cause.evidence}")
    else:
        telling = first
    return text + _most_cases(bad, _cause_name(telling))


def _cause_name(o: Outcome) -> str | None:
    v = shown(o)
    return None if v is None or v.cause is None else v.cause.name


def _most_cases(bad: Sequence[Outcome], said: str | None) -> str:
    """A line for the cause most failing cases share, where it is not the one already said
    (the smallest case may show another: a 1 x 1 x 1 C with its only K term dropped is a C
    never written)."""
    named = Counter(n for o in bad if (n := _cause_name(o)) not in (None, "unexplained"))
    if not named:
        return ""
    cause, count = named.most_common(1)[0]
    if cause == said or count < 2 or count <= named.get(said, 0):
        return ""
    example = next(o for o in bad if _cause_name(o) == cause)
    return (f"\nmost cases ({count} of {len(bad)} failing): {example.case} ({example.shape}): "
            f"cause: {cause}: {shown(example).cause.evidence}")


def _vagueness(o: Outcome) -> tuple[int, int]:
    """How little a failing case says (smaller: more): a named cause, then a verdict without
    one (unexplained, or isolated elements), then no verdict; among equals the larger C (a
    1 x 1 C shows no pattern)."""
    v = shown(o)
    if v is None:
        return (2, 0)
    vague = v.cause is None or v.cause.name in ("unexplained", "isolated wrong elements")
    return (int(vague), -v.size)


def _slug(text: str) -> str:
    return re.sub(r"[^0-9A-Za-z]+", "-", text).strip("-").lower()[:60]


def heat_map_limits(ratio: np.ndarray) -> tuple[float, float]:
    """The colour scale's ends, log10: the data's smallest and largest finite ratios, at
    least -1 to 1 (the bound in the middle)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        logs = np.log10(ratio[(ratio > 0) & np.isfinite(ratio)])
    if logs.size == 0:
        return -1.0, 1.0
    return min(float(logs.min()), -1.0), max(float(logs.max()), 1.0)


def heat_map(o: Outcome, path: Path) -> None:
    """log10(error / allowed) over C, one pixel per element, on a colour scale that spans the
    data (a float32 downgrade at 1e7 and a dropped K tile at 1e13 look different); above 0
    is outside the bound. Elements never written (still C's old value) and elements that
    are NaN or infinite are drawn in colours of their own."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    ratio = o.ratio_map
    with np.errstate(divide="ignore", invalid="ignore"):
        logs = np.where((ratio > 0) & np.isfinite(ratio), np.log10(ratio), np.nan)
    low, high = heat_map_limits(ratio)
    M, N = logs.shape
    fig, ax = plt.subplots(figsize=(7, max(3.0, min(9.0, 7 * M / max(N, 1)))))
    image = ax.imshow(logs, cmap="magma", vmin=low, vmax=high, aspect="auto",
                      interpolation="nearest")
    fig.colorbar(image, ax=ax, label="log10(error / allowed); > 0 fails")
    overlay = np.zeros((M, N, 4))
    marks = []
    failing = ~(ratio <= 1)
    if o.unwritten is not None and (o.unwritten & failing).any():
        overlay[o.unwritten & failing] = (0.2, 0.6, 1.0, 1.0)
        marks.append(Patch(color=(0.2, 0.6, 1.0), label="never written (C's old value)"))
    nonfinite = ~np.isfinite(ratio)
    if nonfinite.any():
        overlay[nonfinite] = (0.0, 0.9, 0.6, 1.0)
        marks.append(Patch(color=(0.0, 0.9, 0.6), label="NaN or infinite"))
    if marks:
        ax.imshow(overlay, aspect="auto", interpolation="nearest")
        ax.legend(handles=marks, loc="upper right", fontsize=7, framealpha=0.9)
    ax.set_title(f"{o.case} ({o.shape})", fontsize=9)
    ax.set_xlabel("column of C")
    ax.set_ylabel("row of C")
    save_figure(fig, path)
    plt.close(fig)


VERDICTS = {EXIT_OK: "PASS", EXIT_FAILED: "FAIL", EXIT_NOT_JUDGED: "NOT JUDGED"}


def folder(out: Path, figures: Sequence[str] = ()) -> Folder:
    """The report folder: report.md, report.json, the figures named, and the heat maps."""
    return Folder(Path(out), ("report.md", "report.json", *figures),
                  ("heatmap-[0-9][0-9][0-9]-*.png",))


def write_report(outcomes: Sequence[Outcome], out: Path, title: str, command: str,
                 figures: Sequence[str] = (), note: str | None = None) -> None:
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
             f"Verdict: **{VERDICTS[exit_code(outcomes)]}**: {summary(outcomes)}", "",
             *([note.capitalize() + ".", ""] if note else []),
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
        "not_run": sum(o.status == "not run" for o in outcomes), "not_applicable": note,
        "files": ["report.md", "report.json", *figures, *maps.values()],
        "findings": [f.as_json() for f in findings(outcomes)],
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
            "cause": None if v.cause is None else {"name": v.cause.name,
                                                   "evidence": v.cause.evidence},
            "elements": [{"index": list(e.index), "actual": e.actual, "expected": e.expected,
                          "allowed": e.allowed} for e in v.elements],
            "precision": None if p is None else {
                "effective_bits": p.effective_bits, "model": p.model, "declared": p.declared,
                "ratio": p.ratio, "lower_bound": p.lower_bound, "evidence": p.evidence}}
