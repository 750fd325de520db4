"""Compile every kernel to PTX for a compute capability, without a GPU.

`oraclenet gpu ptx [--report FILE]` lists, for each kernel and dtype, the float64
instructions in its PTX (a float32 kernel must hold none) and, where the nvidia-cuda-nvcc
wheel's ptxas is installed (the machine's older ptxas rejects NVVM 13.5's PTX 9.5), the
registers, shared memory, stack and spills that `ptxas -arch=sm_90 -v` reports. Needs
numba-cuda with the CUDA 13 NVVM (numba-cuda[cu13]) and must not run in the simulator.
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from ..common.files import write_text
from ..common.report import table
from . import kernels
from .gemm_kernels import KERNELS

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


def ptxas() -> Path | None:
    """ptxas from the nvidia-cuda-nvcc wheel, if installed."""
    spec = importlib.util.find_spec("nvidia")
    for root in (spec.submodule_search_locations or []) if spec else []:
        found = sorted(Path(root).glob("*/bin/ptxas"))
        if found:
            return found[-1]
    return None


RESOURCE_PATTERNS = {
    "registers": r"Used (\d+) registers",
    "smem_bytes": r"(\d+) bytes smem",
    "stack_bytes": r"(\d+) bytes stack frame",
    "spill_store_bytes": r"(\d+) bytes spill stores",
}


def resources(ptx: str, tool: Path, arch: str = "sm_90") -> dict[str, int]:
    """Registers, shared memory, stack and spills of a one-kernel PTX, as ptxas -v says."""
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "kernel.ptx"
        source.write_text(ptx)
        out = subprocess.run([str(tool), f"-arch={arch}", "-v", str(source), "-o",
                              str(Path(tmp) / "kernel.cubin")], capture_output=True,
                             text=True, timeout=300, check=True)
    report = out.stdout + out.stderr
    return {k: int(m.group(1)) if (m := re.search(p, report)) else 0
            for k, p in RESOURCE_PATTERNS.items()}


def resource_table() -> tuple[str, int]:
    """(the markdown table of every kernel and dtype, how many float32 kernels hold float64
    instructions)."""
    tool = ptxas()
    rows, bad = [], 0
    for key, ptx in compile_all().items():
        f64 = f64_instructions(ptx)
        if key.endswith("float32") and f64:
            bad += 1
        used = resources(ptx, tool) if tool else {}
        rows.append((*key.split(), len(f64), *(used.get(k, "n/a") for k in RESOURCE_PATTERNS)))
    header = ("kernel", "dtype", "f64 instructions", "registers", "shared memory (bytes)",
              "stack (bytes)", "spill stores (bytes)")
    return table(header, rows), bad


def run(report: Path | None) -> int:
    """Print the table (and write it to report); 1 when a float32 kernel holds float64."""
    text, bad = resource_table()
    print(text)
    if report:
        tool = ptxas()
        write_text(report, "# Kernel resources for sm_90\n\nMade by `oraclenet gpu ptx "
                   f"--report {report}` on a CPU-only machine: NVVM from numba-cuda, "
                   f"`{tool.name if tool else 'no ptxas'} -arch=sm_90 -v` from the "
                   "nvidia-cuda-nvcc wheel.\n\n" + text + "\n")
    return 1 if bad else 0
