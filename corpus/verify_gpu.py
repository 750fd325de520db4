"""The verify report's section on the GPU kernels: the GPU suite (gpu_suite.py, which
tests/gpu runs as tests: every GEMM algorithm and dtype against the roundoff verdicts, the
planted kernel bugs, the elementwise kernels in ulps, the device trainer's every step against
the oracle's bounds, the PTX build) on the GPU when nvidia-smi finds one, else in Numba's
CUDA simulator."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from ..common.report import ROOT, Say, Section, ratio_table, verdict_word
from .suite import failed_text, run_suite

TITLE = "GPU kernels"
TIMEOUT_S = 1800


def section(out: Path, say: Say) -> Section:
    from ..gpu.target import choose

    target = choose()  # what the suite's process will choose too
    say(f"the GPU suite on the {target}")
    run = run_suite([sys.executable, "-m", "oraclenet.corpus.gpu_suite"], TIMEOUT_S, say)
    results = ROOT / "docs" / "gpu-results.md"
    measured = (f"Speed on real hardware: [docs/gpu-results.md]"
                f"({os.path.relpath(results, out)}) (`oraclenet gpu bench`)."
                if results.is_file() else
                "Speed: `oraclenet gpu bench` has not been run on a GPU yet.")
    kernels_doc = os.path.relpath(ROOT / "docs" / "gpu-kernels.md", out)
    body = f"""Verdict: **{verdict_word(run.passed)}** ({run.summary}), on the
{target}.

{failed_text(run.findings)}

GEMM (naive, shared, regblock) in float32 and float64, every transpose, alpha and beta each
0, 1 or another value, ragged shapes, against the elementwise GEMM bound (ratio <= 1);
exact integer mode; NaN-poisoned C and a guard band; the six planted kernel bugs of
corpus/kernels.py (last K tile dropped, last row unwritten, missing barrier, float32
accumulation, blocks indexed with half the tile's stride, alpha ignored when beta is 0) each
failing by a ratio of 100 or more;
the other kernels in ulps and gamma bounds; the device trainer's every step
(teacher-forced and free-running) against `judge/bounds.py`; every kernel compiled to PTX
for sm_90 in both dtypes, with no f64 instruction in the float32 ones (registers and shared
memory: [docs/gpu-kernels.md]({kernels_doc})).

The ratios behind those verdicts (a correct run must stay at 1 or below; a planted bug counts
by its worst verdict, which must reach 100):

{ratio_table(run.ratios())}

{measured}
"""
    return Section(TITLE, body, run.passed)
