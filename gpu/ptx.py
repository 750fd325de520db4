"""Compile every kernel to PTX for a compute capability, without a GPU.

`python -m gpu ptx [--report FILE]` lists, for each kernel and dtype, the float64
instructions in its PTX (a float32 kernel must hold none) and, where the nvidia-cuda-nvcc
wheel's ptxas is installed (the machine's older ptxas rejects NVVM 13.5's PTX 9.5), the
registers, shared memory, stack and spills that `ptxas -arch=sm_90 -v` reports. Needs
numba-cuda with the CUDA 13 NVVM (numba-cuda[cu13]) and must not run in the simulator.
"""

from __future__ import annotations

import argparse
import importlib.util
import re
import subprocess
import tempfile
from pathlib import Path

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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gpu ptx", description=__doc__)
    parser.add_argument("--report", type=Path, help="also write the table as markdown")
    args = parser.parse_args(argv)
    tool = ptxas()
    rows, bad = [], 0
    for key, ptx in compile_all().items():
        f64 = f64_instructions(ptx)
        if key.endswith("float32") and f64:
            bad += 1
        used = resources(ptx, tool) if tool else {}
        rows.append((*key.split(), len(f64), *(used.get(k, "n/a") for k in RESOURCE_PATTERNS)))
    header = ("| kernel | dtype | f64 instructions | registers | shared memory (bytes) | "
              "stack (bytes) | spill stores (bytes) |\n|---|---|---|---|---|---|---|")
    table = "\n".join([header, *("| " + " | ".join(map(str, r)) + " |" for r in rows)])
    print(table)
    if args.report:
        from reference.files import write_text

        write_text(args.report, "# Kernel resources for sm_90\n\nMade by `python -m gpu ptx "
                   f"--report {args.report}` on a CPU-only machine: NVVM from numba-cuda, "
                   f"`{tool.name if tool else 'no ptxas'} -arch=sm_90 -v` from the "
                   "nvidia-cuda-nvcc wheel.\n\n" + table + "\n")
    return 1 if bad else 0
