"""The issue-10 table, re-measured: `python benchmarks/precision_stand_ins.py`.

numpy stand-ins for the precision bugs met on today's GPUs (a float32 GEMM whose inputs are
rounded to TF32 or bfloat16, or whose sums are kept in float16), beside an honest float32
GEMM, at the course's shape, the network's W2 a1 and a long K; normal operands, seed 0. For
each: both error tiers, the precision test and the effective bits. Writes
docs/precision-stand-ins.md.
"""

from __future__ import annotations

import platform
from pathlib import Path

import numpy as np

from oraclenet.common.files import write_text
from oraclenet.common.report import table
from oraclenet.corpus.cases import gemm_problem
from oraclenet.corpus.gemm import PRECISION_BUGS, honest
from oraclenet.judge.roundoff import compare_gemm

SHAPES = [(800, 1000, 784), (10, 800, 1000), (256, 256, 4096)]
STAND_INS = ("TF32 inputs", "bfloat16 inputs", "float16 accumulation")


def main() -> None:
    rows = []
    for M, N, K in SHAPES:
        A, B, C0, alpha, beta = gemm_problem("normal", (M, N, K), np.float32, 0)
        for name, gemm in [("correct (BLAS)", honest("BLAS")),
                           *((s, PRECISION_BUGS[s]) for s in STAND_INS)]:
            v = compare_gemm(gemm(A, B, C0, alpha, beta), A, B, C0, alpha, beta)
            rows.append((f"{M}x{N}x{K}", name, "pass" if v.passed else "**FAIL**",
                         f"{v.rigorous_ratio:.3g}", f"{v.statistical_ratio:.3g}",
                         f"{v.precision.ratio:.3g}", f"{v.effective_bits:.2f}",
                         v.precision_model))
            print(*rows[-1], sep="  ", flush=True)
    text = f"""# Precision stand-ins, judged

Made by `python benchmarks/precision_stand_ins.py` on a {platform.machine()} CPU, numpy
{np.__version__}: float32 GEMMs on normal operands (seed 0), alpha 1, beta 0. A ratio
passes at 1 or below; the verdict needs all three.

{table(["shape", "GEMM", "verdict", "rigorous", "statistical", "precision test",
        "effective bits", "model"], rows)}
"""
    write_text(Path(__file__).resolve().parent.parent / "docs" / "precision-stand-ins.md", text)


if __name__ == "__main__":
    main()
