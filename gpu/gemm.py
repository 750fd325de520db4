"""Host side of the GEMM family: checks, transfers, launch.

    gemm(C, A, B, alpha, beta, trans_a, trans_b, algorithm)   C := alpha op(A) op(B) + beta C

C, A and B are numpy arrays or CUDA device arrays of one dtype (float32 or float64). Device
arrays stay where they are: nothing is copied behind the caller's back. A numpy C is
updated in place (copied to the device and back).
"""

from __future__ import annotations

import numpy as np
from numba import cuda

from .gemm_kernels import KERNELS, launch_shape
from .options import ALGORITHMS

DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def _device(name: str, x):
    if hasattr(x, "copy_to_host"):  # a device array (real or simulated): use it where it is
        return x, False
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{name} must be a numpy or CUDA device array, got {type(x).__name__}")
    return cuda.to_device(np.ascontiguousarray(x)), True


def gemm(C, A, B, alpha: float = 1.0, beta: float = 0.0, trans_a: bool = False,
         trans_b: bool = False, algorithm: str = "regblock") -> None:
    """C := alpha op(A) op(B) + beta C, in place; op(X) is X or X^T."""
    if algorithm not in KERNELS:
        raise ValueError(f"algorithm must be one of {', '.join(ALGORITHMS)}, got {algorithm!r}")
    for name, x in (("C", C), ("A", A), ("B", B)):
        if getattr(x, "ndim", None) != 2:
            raise ValueError(f"{name} must be 2-d, got shape {getattr(x, 'shape', None)}")
        if np.dtype(x.dtype) not in DTYPES:
            raise TypeError(f"{name} has dtype {x.dtype}; expected float32 or float64")
    if not np.dtype(A.dtype) == np.dtype(B.dtype) == np.dtype(C.dtype):
        raise TypeError(f"one dtype for all: C {C.dtype}, A {A.dtype}, B {B.dtype}")
    M, K = A.shape[::-1] if trans_a else A.shape
    K_b, N = B.shape[::-1] if trans_b else B.shape
    if K != K_b or C.shape != (M, N):
        raise ValueError(f"shapes do not chain: C {C.shape} := op(A) {(M, K)} op(B) "
                         f"{(K_b, N)} (A {A.shape}{' transposed' if trans_a else ''}, "
                         f"B {B.shape}{' transposed' if trans_b else ''})")
    if isinstance(C, np.ndarray) and (np.shares_memory(C, A) or np.shares_memory(C, B)):
        raise ValueError("C overlaps A or B: the product is computed in place")
    dC, copied = _device("C", C)
    dA, _ = _device("A", A)
    dB, _ = _device("B", B)
    opA, opB = (dA.T if trans_a else dA), (dB.T if trans_b else dB)
    dtype = np.dtype(C.dtype)
    grid, block = launch_shape(algorithm, M, N)
    KERNELS[algorithm](dtype)[grid, block](dC, opA, opB, dtype.type(alpha), dtype.type(beta))
    if copied:
        C[...] = dC.copy_to_host()
