"""The device flags of `python -m gpu train` and `python -m parallel train --gpu`. Imports no
numba, so that the parallel trainers parse them without loading the GPU stack."""

from __future__ import annotations

import argparse
import os

ALGORITHMS = ("naive", "shared", "regblock")
DTYPES = ("float32", "float64")
DEFAULT_DTYPE, DEFAULT_GEMM = "float32", "regblock"


def add_device_arguments(parser: argparse.ArgumentParser, prefix: str = "") -> None:
    """--dtype and --gemm, default None: device_choices() fills them in."""
    parser.add_argument("--dtype", choices=DTYPES,
                        help=f"{prefix}the device's dtype (default {DEFAULT_DTYPE})")
    parser.add_argument("--gemm", choices=ALGORITHMS,
                        help=f"{prefix}the GEMM algorithm (default {DEFAULT_GEMM})")


def device_choices(args: argparse.Namespace) -> tuple[str, str]:
    """(dtype, gemm) as given or by default."""
    return args.dtype or DEFAULT_DTYPE, args.gemm or DEFAULT_GEMM


def simulated() -> bool:
    """Numba's CUDA simulator is on (it must be chosen before numba is imported)."""
    return os.environ.get("NUMBA_ENABLE_CUDASIM") == "1"


def device_error() -> str | None:
    """Why the kernels cannot run here, or None: a CUDA GPU, or the simulator, is needed."""
    if simulated():
        return None
    from numba import cuda

    try:
        if cuda.is_available():
            return None
    except Exception as err:  # a broken driver install says so in its own words
        return f"no usable CUDA GPU here ({err})"
    return ("no CUDA GPU here; set NUMBA_ENABLE_CUDASIM=1 to run the kernels in Numba's "
            "simulator (slow: small sizes only)")
