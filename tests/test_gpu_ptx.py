"""Real compilation on this CPU-only machine, in a process of its own outside the simulator:
the float64 detector's teeth, and regblock's strip of C kept in registers by ptxas. That every
kernel compiles for sm_90 in both dtypes, float32 ones without float64 instructions, is the
GPU suite's check "ptx" (corpus/gpu_suite.py, tests/gpu/test_suite.py)."""

import json
import os
import subprocess
import sys
from pathlib import Path

from oraclenet.gpu.ptx import f64_instructions

ROOT = Path(__file__).resolve().parent.parent


def test_the_f64_detector_sees_float64_arithmetic():
    assert f64_instructions("\tfma.rn.f64 \t%fd3, %fd1, %fd2, %fd3;\n\tadd.f32 %f1, %f2, %f3;")\
        == ["fma.rn.f64 \t%fd3, %fd1, %fd2, %fd3;"]
    assert f64_instructions("\tcvt.f64.f32 %fd1, %f1;") == ["cvt.f64.f32 %fd1, %f1;"]


def test_regblock_keeps_its_strip_of_c_in_registers():
    """ptxas (from the nvidia-cuda-nvcc wheel of the test extra): no stack, no spills."""
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"}
    script = ("import json; from oraclenet.gpu.ptx import compile_all, ptxas, resources; "
              "ptx = compile_all(); tool = ptxas(); "
              "print(json.dumps({k: resources(ptx[k], tool) for k in "
              "('gemm_regblock float32', 'gemm_regblock float64')}))")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         env=env, timeout=600, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-3000:]
    for key, used in json.loads(out.stdout).items():
        assert used["registers"] > 0, key  # ptxas really reported
        assert used["stack_bytes"] == 0 and used["spill_store_bytes"] == 0, (key, used)
