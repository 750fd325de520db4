"""The device flags of `oraclenet gpu train` and `oraclenet mpi train --gpu`, and whether the
kernels can run here. Imports no numba, so that the MPI trainers parse their flags without
loading the GPU stack."""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass

ALGORITHMS = ("naive", "shared", "regblock")
DTYPES = ("float32", "float64")


@dataclass(frozen=True)
class Device:
    """What the kernels compute in: the dtype and the GEMM algorithm."""

    dtype: str = "float32"
    gemm: str = "regblock"

    def describe(self) -> str:
        return f"gpu {self.gemm} GEMM, {self.dtype}"


def add_device_arguments(parser: argparse.ArgumentParser, prefix: str = "") -> None:
    """--dtype and --gemm, default None: device_from() fills them in."""
    parser.add_argument("--dtype", choices=DTYPES,
                        help=f"{prefix}the device's dtype (default {Device.dtype})")
    parser.add_argument("--gemm", choices=ALGORITHMS,
                        help=f"{prefix}the GEMM algorithm (default {Device.gemm})")


def device_from(args: argparse.Namespace) -> Device:
    """The flags as given, else the defaults."""
    return Device(args.dtype or Device.dtype, args.gemm or Device.gemm)


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
