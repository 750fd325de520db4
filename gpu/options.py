"""The device flags of `python -m gpu train` and `python -m parallel train --gpu`. Imports no
numba, so that the parallel trainers parse them without loading the GPU stack."""

from __future__ import annotations

import argparse

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
