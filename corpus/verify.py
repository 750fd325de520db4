"""The verify report's section "Roundoff or bug?": `oraclenet separation`'s default corpora
judged (OUT/separation: the table, the histogram, the JSON), and the effective precision of
each of oraclenet.gpu's GEMM kernels in each dtype, on the GPU or in Numba's simulator."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..common.report import Say, Section, table, verdict_word
from ..gpu.target import choose
from ..judge.tolerances import tolerance
from . import separation

TITLE = "Roundoff or bug?"


def _kernel_rows(say: Say) -> list[tuple]:
    from ..gpu.gemm import ALGORITHMS
    from ..gpu.options import device_error
    from .cases import kernel_verdict

    if device_error() is not None:
        return [("-", "-", "-", "-", f"no kernels here: {device_error()}")]
    rows = []
    for algorithm in ALGORITHMS:
        for dtype in (np.float32, np.float64):
            say(f"effective precision of the {algorithm} GEMM in {np.dtype(dtype).name}")
            p = kernel_verdict(algorithm, dtype).precision
            rows.append((algorithm, np.dtype(dtype).name,
                         f"{'>= ' if p.lower_bound else ''}{p.effective_bits:.1f}", p.model,
                         f"{p.ratio:.3g}" if p.ratio is not None else "not tested"))
    return rows


def section(out: Path, say: Say) -> Section:
    from .cases import KERNEL_SHAPE, all_cases

    kernels_on = choose()  # the entry point chose before numba loaded; this names it
    cases = all_cases(quick=False)
    say(f"{len(cases)} cases of the roundoff and bug corpora, kernels on the {kernels_on}")
    margin = tolerance("teeth.min_bug_ratio")
    result = separation.run(cases, out / "separation", margin, "oraclenet verify", kernels_on,
                            say=say)
    t = result["targets"]
    passed = separation.met(t)
    rows = [(r["family"], r["tier"], r["variants"], r["bugs"],
             separation.fmt(r["max_roundoff_ratio"]), separation.fmt(r["min_bug_ratio"]),
             separation.fmt(r["margin"])) for r in result["families"]]
    M, N, K = KERNEL_SHAPE
    body = f"""Verdict: **{verdict_word(passed)}**: {len(t['false_alarms'])} false alarms over
{t['variants']} roundoff-only variants, {len(t['missed_by_every_tier'])} of {t['bugs']}
planted bugs missed by every tier, {len(t['families_below_margin'])} families whose best
tier's margin is below {margin:g} (the same run as `oraclenet separation`; full report:
[separation/separation.md](separation/separation.md)).

{table(["family", "tier", "variants", "bugs", "max roundoff ratio", "min bug ratio",
        "margin"], rows)}

![log10 ratio of honest results and bugs](separation/separation.png)

The effective precision of each GEMM kernel of oraclenet.gpu, on the {kernels_on}
({M}x{N}x{K}, alpha 2, beta 5; float32 should read 24 bits and float64 53, at least where
no long double is wider than float64):

{table(["kernel", "dtype", "effective bits", "model", "precision test ratio"],
       _kernel_rows(say))}
"""
    return Section(TITLE, body, passed)
