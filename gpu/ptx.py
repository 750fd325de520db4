"""Compile every kernel to PTX for a compute capability, without a GPU.

`python -m gpu ptx` prints, for each kernel and dtype, the size of its PTX and the float64
instructions it holds: a float32 kernel must hold none. Needs numba-cuda with the CUDA 13
NVVM (numba-cuda[cu13]) and must not run in the simulator.
"""

from __future__ import annotations

import re

import numpy as np

from gpu import kernels
from gpu.gemm_kernels import KERNELS

F64 = re.compile(r"^\s*[a-z][a-z0-9.]*\.f64\b.*$", re.MULTILINE)
GEMM_SIGNATURE = "void({t}[:, :], {t}[:, :], {t}[:, :], {t}, {t})"


def all_kernels(dtype: np.dtype) -> dict[str, tuple[object, str]]:
    """{name: (kernel, signature)} for every kernel of the package in dtype."""
    gemm = {f"gemm_{name}": (factory(dtype), GEMM_SIGNATURE) for name, factory in KERNELS.items()}
    other = {name: (kernel, kernels.SIGNATURES[name])
             for name, kernel in kernels.kernels(dtype).items()}
    return gemm | other


def compile_all(cc: tuple[int, int] = (9, 0)) -> dict[str, str]:
    """{'<kernel> <dtype>': PTX} for every kernel in float32 and float64."""
    from numba import cuda

    out = {}
    for dtype in (np.dtype(np.float32), np.dtype(np.float64)):
        for name, (kernel, signature) in all_kernels(dtype).items():
            ptx, _ = cuda.compile_ptx(kernel.py_func, signature.format(t=dtype.name), cc=cc)
            out[f"{name} {dtype.name}"] = ptx
    return out


def f64_instructions(ptx: str) -> list[str]:
    """The PTX instructions that operate on float64 (f64 arithmetic or conversions)."""
    return [line.strip() for line in F64.findall(ptx)]


def main() -> int:
    bad = 0
    for key, ptx in compile_all().items():
        f64 = f64_instructions(ptx)
        flag = ""
        if key.endswith("float32") and f64:
            flag, bad = f"  FLOAT64 IN A FLOAT32 KERNEL: {f64[:3]}", bad + 1
        print(f"{key:18s} sm_90 PTX {len(ptx):7,d} bytes, {len(f64):3d} f64 instructions{flag}")
    return 1 if bad else 0
