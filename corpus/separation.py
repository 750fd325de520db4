"""`oraclenet separation`: the judge measured. Both corpora go through every check family; for
each family and tier, how far the worst honest result stands from the least caught bug.

A case is one implementation on one problem, judged by the family's check; its outcome is
each tier's ratio (the worst over the verdicts the case makes). A bug names the tiers meant
to catch it: a precision downgrade, whose error can overlap honest roundoff in magnitude,
the precision test; any other bug the rigorous and statistical tiers. Per family and tier:

    variants, bugs                  honest results judged by that tier; bugs meant for it
    max_roundoff_ratio              the worst honest result (above 1: a false alarm)
    min_bug_ratio                   the bug nearest to passing (at most 1: missed by the tier)
    margin                          min_bug_ratio / max_roundoff_ratio
    false_alarms, missed            by name

A bug is missed only when every tier misses it. Writes OUT/separation.json, .md and
separation.png (log10 ratio of the honest results against the bugs, tier by tier).
"""

from __future__ import annotations

import math
import os
import platform
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..common.files import Folder, save_figure, write_json, write_text
from ..common.report import table
from ..judge.verdict import Verdict

TIERS = ("rigorous", "statistical", "precision")


@dataclass(frozen=True)
class Case:
    """One implementation on one problem: run() gives the verdicts of the family's check."""

    family: str
    name: str
    bug: bool
    run: Callable[[], Iterable[Verdict]]
    meant_for: tuple[str, ...] = ("rigorous", "statistical")  # a bug's tiers
    cause: str | None = None  # a bug's true cause in judge/diagnose*.py's catalogue (None:
    # outside it, or an honest variant)


@dataclass
class Outcome:
    family: str
    name: str
    bug: bool
    meant_for: tuple[str, ...]
    ratios: dict[str, float] = field(default_factory=dict)  # tier -> worst ratio
    seconds: float = 0.0
    cause: str | None = None  # the true cause
    named: str | None = None  # the cause the diagnosis named (its worst failing verdict's)

    @property
    def caught(self) -> bool:
        return any(r > 1.0 for r in self.ratios.values())


def judge(case: Case) -> Outcome:
    began = time.perf_counter()
    outcome = Outcome(case.family, case.name, case.bug, case.meant_for, cause=case.cause)
    failing = []
    for v in case.run():
        if not v.passed:
            failing.append(v)
        found = {"rigorous": v.rigorous_ratio, "statistical": v.statistical_ratio,
                 "precision": None if v.precision is None else v.precision.ratio}
        for tier, ratio in found.items():
            if ratio is not None:
                worst = outcome.ratios.get(tier, 0.0)
                outcome.ratios[tier] = max(worst, ratio if not math.isnan(ratio) else math.inf)
    named = [v for v in failing if v.cause is not None]
    outcome.named = max(named, key=lambda v: v.ratio).cause.name if named else None
    outcome.seconds = time.perf_counter() - began
    return outcome


DIAGNOSED = ("gemm float32", "gemm float64", "GEMM kernels", "gradient", "training step", "MPI")


def confusion(outcomes: list[Outcome]) -> list[dict]:
    """Per diagnosed family, how the planted bugs' causes were named: right, wrong (another
    cause, or a cause for a bug outside the catalogue), unexplained; and honest variants
    that were given a cause."""
    rows = []
    for family in DIAGNOSED:
        mine = [o for o in outcomes if o.family == family]
        if not mine:
            continue
        listed = [o for o in mine if o.bug and o.cause is not None]
        named = lambda o: o.named not in (None, "unexplained")  # noqa: E731
        rows.append(dict(
            family=family, bugs=len(listed),
            right=[o.name for o in listed if o.named == o.cause],
            wrong=[f"{o.name}: named {o.named}" for o in mine if o.bug and named(o)
                   and o.named != o.cause],
            unexplained=[o.name for o in listed if not named(o)],
            outside=[o.name for o in mine if o.bug and o.cause is None],
            honest_with_cause=[o.name for o in mine if not o.bug and o.named is not None]))
    return rows


def summarise(outcomes: list[Outcome]) -> list[dict]:
    """The per family and tier rows of separation.json."""
    rows = []
    for family in dict.fromkeys(o.family for o in outcomes):
        mine = [o for o in outcomes if o.family == family]
        for tier in TIERS:
            honest = [o for o in mine if not o.bug and tier in o.ratios]
            bugs = [o for o in mine if o.bug and tier in o.ratios and tier in o.meant_for]
            if not honest and not bugs:
                continue
            worst = max((o.ratios[tier] for o in honest), default=0.0)
            least = min((o.ratios[tier] for o in bugs), default=math.inf)
            rows.append(dict(
                family=family, tier=tier, variants=len(honest), bugs=len(bugs),
                max_roundoff_ratio=worst, min_bug_ratio=least,
                margin=least / worst if worst > 0 else math.inf,
                false_alarms=[o.name for o in honest if o.ratios[tier] > 1.0],
                missed=[o.name for o in bugs if o.ratios[tier] <= 1.0]))
    return rows


def verdict_on_targets(outcomes: list[Outcome], rows: list[dict], margin: float) -> dict:
    """The issue's targets: no false alarm in any tier, every bug caught by some tier, and in
    every family a tier whose margin reaches `margin`."""
    families = dict.fromkeys(r["family"] for r in rows)
    best = {f: max(r["margin"] for r in rows if r["family"] == f) for f in families}
    named = confusion(outcomes)
    return dict(
        diagnosis=named,
        diagnosis_below=[r["family"] for r in named
                         if r["bugs"] and len(r["right"]) < NAMED_RIGHT * r["bugs"]],
        named_wrong=[w for r in named for w in r["wrong"]],
        honest_with_cause=[n for r in named for n in r["honest_with_cause"]],
        false_alarms=sorted({n for r in rows for n in r["false_alarms"]}),
        missed_by_every_tier=[o.name for o in outcomes if o.bug and not o.caught],
        best_margin=best,
        families_below_margin=[f for f, m in best.items() if m < margin],
        variants=sum(not o.bug for o in outcomes), bugs=sum(o.bug for o in outcomes))


NAMED_RIGHT = 0.9  # the target: the share of catalogued bugs named right


def met(targets: dict) -> bool:
    """No false alarm, no bug missed by every tier, every family's margin reached; every
    diagnosed family names 90% of its catalogued bugs right, none wrong, no honest one."""
    return not (targets["false_alarms"] or targets["missed_by_every_tier"]
                or targets["families_below_margin"] or targets["diagnosis_below"]
                or targets["named_wrong"] or targets["honest_with_cause"])


def fmt(x: float) -> str:
    return "inf" if math.isinf(x) else f"{x:.3g}"


def _below_one(rows: list[dict], targets: dict) -> list[str]:
    """The explanation of a margin below 1 in a tier that is not its family's best, where
    the table shows it."""
    low = [f"{r['family']} / {r['tier']}" for r in rows
           if r["margin"] < 1 and r["margin"] < targets["best_margin"][r["family"]]]
    if not low:
        return []
    return [f"A margin below 1 ({', '.join(low)}) means that this tier alone lets some "
            "planted bug through below some honest variant's ratio: it is blind to that "
            "kind of bug (the precision test to a wrong element, say). It is no false alarm "
            "and no miss: a verdict fails when any tier fails, a bug is missed only when "
            "every tier misses it, and a family is judged by its best tier's margin.", ""]


def markdown(rows: list[dict], targets: dict, margin: float, seconds: float,
             command: str, kernels_on: str) -> str:
    lines = [
        "# Roundoff or bug? The judge measured", "",
        f"Made by `{command}` in {seconds:.0f} s on a {os.cpu_count()}-core "
        f"{platform.machine()} CPU, the kernel family on the {kernels_on}: "
        f"{targets['variants']} roundoff-only "
        f"variants and {targets['bugs']} planted bugs, each judged by its family's check. "
        "A tier's ratio passes at 1 or below; a bug is missed only when every tier misses it.",
        "",
        table(["family", "tier", "variants", "bugs", "max roundoff ratio", "min bug ratio",
               "margin", "false alarms", "missed by this tier"],
              [(r["family"], r["tier"], r["variants"], r["bugs"], fmt(r["max_roundoff_ratio"]),
                fmt(r["min_bug_ratio"]), fmt(r["margin"]), len(r["false_alarms"]),
                len(r["missed"])) for r in rows]),
        "", *_below_one(rows, targets),
        "Targets:", "",
        f"- false alarms over the whole roundoff corpus, in every tier: "
        f"{len(targets['false_alarms'])}" + (f" ({', '.join(targets['false_alarms'][:10])})"
                                              if targets["false_alarms"] else ""),
        f"- planted bugs missed by every tier: {len(targets['missed_by_every_tier'])}"
        + (f" ({', '.join(targets['missed_by_every_tier'])})"
           if targets["missed_by_every_tier"] else ""),
        f"- families whose best tier's margin is below {margin:g}: "
        + (", ".join(f"{f} ({fmt(targets['best_margin'][f])})"
                     for f in targets["families_below_margin"]) or "none"),
        "", "![log10 ratio of honest results and bugs](separation.png)", ""]
    lines += [
        "Which bug? Every failing verdict is diagnosed (judge/diagnose.py for GEMMs, "
        "judge/diagnose_network.py for gradients and steps); each planted bug has its true "
        "cause, or none when it lies outside the catalogue. Named right, named wrong (another "
        "cause, or a cause for a bug outside the catalogue), unexplained:", "",
        table(["family", "catalogued bugs", "named right", "named wrong", "unexplained",
               "outside the catalogue", "honest variants given a cause"],
              [(r["family"], r["bugs"], f"{len(r['right'])} ({_share(r)})", len(r["wrong"]),
                len(r["unexplained"]), len(r["outside"]), len(r["honest_with_cause"]))
               for r in targets["diagnosis"]]),
        "",
        f"- catalogued bugs named right in every family: at least {NAMED_RIGHT:.0%}; below "
        f"it: {', '.join(targets['diagnosis_below']) or 'none'}",
        f"- named wrong: {len(targets['named_wrong'])}"
        + (f" ({'; '.join(targets['named_wrong'][:10])})" if targets["named_wrong"] else ""),
        f"- honest variants given a cause: {len(targets['honest_with_cause'])}", ""]
    unexplained = [f"{r['family']}: {n}" for r in targets["diagnosis"] for n in
                   r["unexplained"] + r["outside"]]
    if unexplained:
        lines += ["Unexplained or outside the catalogue (named \"unexplained\", with the "
                  "pattern): " + "; ".join(unexplained), ""]
    missed = [r for r in rows if r["missed"]]
    if missed:
        lines += ["Bugs that one tier misses and another catches:", ""]
    for r in missed:
        lines.append(f"- {r['family']}, {r['tier']} tier: {', '.join(r['missed'])}")
    return "\n".join(lines) + "\n"


def _share(r: dict) -> str:
    return f"{len(r['right']) / r['bugs']:.0%}" if r["bugs"] else "-"


def plot(outcomes: list[Outcome], path: Path) -> None:
    """Histograms of log10(ratio), honest against bugs, one panel per tier."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    fig, axes = plt.subplots(len(TIERS), 1, figsize=(8, 8), sharex=True)
    edges = np.linspace(-8, 12, 81)
    for ax, tier in zip(axes, TIERS, strict=True):
        for bug, colour, label in ((False, "tab:blue", "roundoff only"),
                                   (True, "tab:red", "planted bugs")):
            values = [o.ratios[tier] for o in outcomes if o.bug == bug and tier in o.ratios]
            logs = np.clip(np.log10(np.maximum(values, 1e-300)), edges[0], edges[-1])
            ax.hist(logs, bins=edges, color=colour, alpha=0.6, label=f"{label} ({len(logs)})")
        ax.axvline(0, color="k", lw=0.8)
        ax.set_ylabel(f"{tier} tier")
        ax.set_yscale("log")
        ax.legend(fontsize=8)
    axes[-1].set_xlabel("log10(error / allowed): 0 is the tier's bound")
    axes[0].set_title("Roundoff or bug: every variant and bug of `oraclenet separation`")
    save_figure(fig, path)
    plt.close(fig)


def run(cases: list[Case], out: Path, margin: float, command: str, kernels_on: str,
        say: Callable[[str], None] = print) -> dict:
    """Judge every case, write the outputs, return the JSON. kernels_on names where the GPU
    kernels ran (gpu/target.py)."""
    began = time.perf_counter()
    outcomes = []
    for i, case in enumerate(cases, 1):
        outcomes.append(judge(case))
        if i % 100 == 0 or i == len(cases):
            say(f"{i} of {len(cases)} cases judged ({case.family})")
    rows = summarise(outcomes)
    targets = verdict_on_targets(outcomes, rows, margin)
    seconds = time.perf_counter() - began
    result = dict(families=rows, targets=targets, seconds=seconds, kernels_on=kernels_on,
                  outcomes=[asdict(o) for o in outcomes])
    where = folder(out)
    where.check()
    write_json(where.file("separation.json"), result)
    write_text(where.file("separation.md"), markdown(rows, targets, margin, seconds, command,
                                                     kernels_on))
    plot(outcomes, where.file("separation.png"))
    return result


def folder(out: Path) -> Folder:
    return Folder(Path(out), ("separation.json", "separation.md", "separation.png"))
