"""`python -m gpu verify --out reports/verify`: the GPU section of the verify report.

Runs the GPU test suite (tests/gpu and the PTX build, what `nox -s gpu` runs: every GEMM
algorithm and dtype against the roundoff verdicts, the planted kernel bugs, the elementwise
kernels in ulps, the device trainer's every step against the oracle's bounds) on the GPU when
nvidia-smi finds one, else in Numba's CUDA simulator, and appends the section to
OUT/index.md (written by `python -m reference verify` first), whole or not at all.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from reference.verify import pytest_command, run_pytest, section_index, set_section

ROOT = Path(__file__).resolve().parent.parent
SECTION = "## 4. GPU kernels"
TIMEOUT_S = 1800


def main(argv: list[str] | None = None) -> int:
    index = section_index("python -m gpu verify", __doc__, argv)
    if index is None:
        return 2
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    command = pytest_command("tests/gpu", "tests/test_gpu_ptx.py", quiet=False)
    passed, summary, output = run_pytest(command, env, ROOT, TIMEOUT_S)
    target = re.search(r"^gpu tests: (.+)$", output, re.MULTILINE)
    results = ROOT / "docs" / "gpu-results.md"
    link = os.path.relpath(results, index.parent)
    measured = (f"Speed on real hardware: [docs/gpu-results.md]({link}) (`python -m gpu "
                "bench`)." if results.is_file() else
                "Speed: `python -m gpu bench` has not been run on a GPU yet.")
    section = f"""
{SECTION}

Verdict: **{'PASS' if passed else 'FAIL'}** ({summary}), on the
{target.group(1) if target else 'unknown target'}. Made by `python -m gpu verify`.

GEMM (naive, shared, regblock) in float32 and float64, every transpose, alpha/beta (1, 0) and
(2, 5), ragged and hypothesis-drawn shapes, against the elementwise GEMM bound (ratio <= 1);
exact integer mode; NaN-poisoned C and a guard band; the planted kernel bugs (last K tile
dropped, edge row unwritten, missing barrier, float32 accumulation) each failing by a ratio of
100 or more; the other kernels in ulps and gamma bounds; the device trainer's every step
(teacher-forced and free-running) against `reference/bounds.py`; every kernel compiled to PTX
for sm_90 in both dtypes, with no f64 instruction in the float32 ones (registers and shared
memory: [docs/gpu-kernels.md]({os.path.relpath(ROOT / 'docs' / 'gpu-kernels.md', index.parent)})).

{measured}
"""
    set_section(index, SECTION, section)
    print(section)
    return 0 if passed else 1
