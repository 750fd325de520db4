"""Real compilation: every GEMM kernel compiles to PTX for sm_90 in both dtypes on this
CPU-only machine (in a process of its own, outside the simulator), and float32 kernels
contain no float64 arithmetic."""

import json
import os
import subprocess
import sys
from pathlib import Path

from oraclenet.gpu.kernels import SIGNATURES
from oraclenet.gpu.ptx import f64_instructions

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ("import json; from oraclenet.gpu.ptx import compile_all; "
          "print(json.dumps(compile_all()))")


def compiled() -> dict:
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"}
    out = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True,
                         env=env, timeout=600, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout)


def test_every_kernel_compiles_for_sm_90_and_float32_has_no_float64():
    ptx = compiled()
    names = [f"gemm_{k}" for k in ("naive", "shared", "regblock")] + sorted(SIGNATURES)
    assert sorted(ptx) == sorted(f"{k} {d}" for k in names for d in ("float32", "float64"))
    for key, text in ptx.items():
        assert ".target sm_90" in text, key
        assert ".entry" in text, key
        if key.endswith("float32"):
            assert f64_instructions(text) == [], (key, f64_instructions(text)[:5])
        else:
            assert any(".f64" in line for line in f64_instructions(text)), key


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
