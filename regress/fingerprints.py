"""Correctness fingerprints: for every verdict family and tier, the worst ratio of the
correct runs (the separation corpus's honest variants, quick); for each of oraclenet.gpu's
GEMM kernels in each dtype, and for an outside GEMM's battery, the precision model its
results behave like (judge/precision.py). A model that changes between baseline and check is
a regression (float32 to TF32); a worst ratio that grows tenfold is drift.

    {"ratios": {"gemm float32, rigorous": 0.32, ...},
     "models": {"kernel naive float32": "float32", ...},
     "bits": {"kernel naive float32": 24.0, ...}}
"""

from __future__ import annotations

import numpy as np


def ours() -> dict:
    """The honest variants of the quick corpus and every GPU GEMM kernel (on the GPU, or in
    Numba's simulator: the command chose before numba loaded)."""
    from ..corpus import separation
    from ..corpus.cases import all_cases

    honest = [separation.judge(c) for c in all_cases(quick=True) if not c.bug]
    ratios = {f"{r['family']}, {r['tier']}": r["max_roundoff_ratio"]
              for r in separation.summarise(honest)}
    return {"ratios": ratios, **kernels()}


def kernels() -> dict:
    """The precision model and effective bits of each GPU GEMM kernel in each dtype (none
    where the kernels cannot run)."""
    from ..corpus.cases import kernel_verdict
    from ..gpu.options import ALGORITHMS, device_error

    models, bits = {}, {}
    if device_error() is None:
        for algorithm in ALGORITHMS:
            for dtype in (np.float32, np.float64):
                p = kernel_verdict(algorithm, dtype).precision
                key = f"kernel {algorithm} {np.dtype(dtype).name}"
                models[key], bits[key] = p.model, p.effective_bits
    return {"models": models, "bits": bits}


def of_gemm(battery, timeout: float) -> dict:
    """An outside GEMM's battery (check/gemm.py): each case's worst ratio and model."""
    ratios, models, bits = {}, {}, {}
    for o in battery.check(timeout):
        key = f"{o.case} ({o.shape})"
        ratios[key] = None if o.worst is None else o.worst.ratio
        p = None if o.worst is None else o.worst.precision
        if p is not None:
            models[key], bits[key] = p.model, p.effective_bits
    return {"ratios": ratios, "models": models, "bits": bits}
