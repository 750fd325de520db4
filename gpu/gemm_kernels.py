"""The GEMM family as Numba CUDA kernels: C := alpha op(A) op(B) + beta C, in place.

The kernels index op(A) and op(B) through whatever strides they are given, so a transpose is
a view, never a copy. Every accumulator has the data's dtype (a float32 kernel contains no
float64 arithmetic), and with beta = 0 C is written without being read (BLAS semantics:
C may hold garbage, NaN included).

    naive     one thread per element of C, K products from global memory
    shared    16 x 16 tiles of op(A) and op(B) in shared memory (padded against bank
              conflicts), one element of C per thread
    regblock  a block of 64 threads computes a 64 x 16 tile of C: a 4 x 16 tile of op(B)
              goes to shared memory, op(A) is read into a register, and each thread keeps
              its 1 x 16 strip of C in registers (the course's design, SPEC section 4)

Each kernel is self-contained: a call to a `cuda.jit(device=True)` helper makes numba-cuda
ask the driver for the current device when compiling, and then PTX cannot be built on a
machine without a GPU (gpu/ptx.py, tests/test_gpu_ptx.py). Hence the repeated store of C.
"""

from __future__ import annotations

from functools import cache

import numpy as np
from numba import cuda, from_dtype

TILE = 16  # shared: tile edge
PADDED = TILE + 1  # a row of a shared tile, one longer against bank conflicts
RB_ROWS, RB_COLS, RB_K = 64, 16, 4  # regblock: C tile rows x cols, K step per shared tile


@cache
def naive(dtype: np.dtype):
    zero = dtype.type(0)

    @cuda.jit
    def kernel(C, A, B, alpha, beta):
        j, i = cuda.grid(2)  # x runs along a row of C: neighbouring threads, neighbouring j
        if i < C.shape[0] and j < C.shape[1]:
            acc = zero
            for k in range(A.shape[1]):
                acc += A[i, k] * B[k, j]
            if beta == 0:  # C is not read: it may hold anything, NaN included
                C[i, j] = alpha * acc
            else:
                C[i, j] = alpha * acc + beta * C[i, j]

    return kernel


@cache
def shared(dtype: np.dtype):
    zero = dtype.type(0)
    element = from_dtype(dtype)

    @cuda.jit
    def kernel(C, A, B, alpha, beta):
        sA = cuda.shared.array((TILE, PADDED), element)
        sB = cuda.shared.array((TILE, PADDED), element)
        tx, ty = cuda.threadIdx.x, cuda.threadIdx.y
        i = cuda.blockIdx.y * TILE + ty
        j = cuda.blockIdx.x * TILE + tx
        M, N, K = C.shape[0], C.shape[1], A.shape[1]
        acc = zero
        for k0 in range(0, K, TILE):
            sA[ty, tx] = A[i, k0 + tx] if i < M and k0 + tx < K else zero
            sB[ty, tx] = B[k0 + ty, j] if k0 + ty < K and j < N else zero
            cuda.syncthreads()
            for kk in range(TILE):
                acc += sA[ty, kk] * sB[kk, tx]
            cuda.syncthreads()
        if i < M and j < N:
            if beta == 0:  # C is not read: it may hold anything, NaN included
                C[i, j] = alpha * acc
            else:
                C[i, j] = alpha * acc + beta * C[i, j]

    return kernel


@cache
def regblock(dtype: np.dtype):
    zero = dtype.type(0)
    element = from_dtype(dtype)

    @cuda.jit
    def kernel(C, A, B, alpha, beta):
        sB = cuda.shared.array((RB_K, RB_COLS), element)
        strip = cuda.local.array(RB_COLS, element)
        t = cuda.threadIdx.x
        i = cuda.blockIdx.y * RB_ROWS + t
        j0 = cuda.blockIdx.x * RB_COLS
        M, N, K = C.shape[0], C.shape[1], A.shape[1]
        for c in range(RB_COLS):
            strip[c] = zero
        for k0 in range(0, K, RB_K):
            kb, cb = t // RB_COLS, t % RB_COLS  # 64 threads load the 4 x 16 tile of op(B)
            sB[kb, cb] = B[k0 + kb, j0 + cb] if k0 + kb < K and j0 + cb < N else zero
            cuda.syncthreads()
            for kk in range(RB_K):
                a = A[i, k0 + kk] if i < M and k0 + kk < K else zero
                for c in range(RB_COLS):
                    strip[c] += a * sB[kk, c]
            cuda.syncthreads()
        if i < M:
            for c in range(RB_COLS):
                if j0 + c < N:
                    if beta == 0:
                        C[i, j0 + c] = alpha * strip[c]
                    else:
                        C[i, j0 + c] = alpha * strip[c] + beta * C[i, j0 + c]

    return kernel


def launch_shape(algorithm: str, M: int, N: int) -> tuple[tuple[int, int], tuple[int, ...]]:
    """(grid, block) for an M x N result."""
    if algorithm == "regblock":
        return (-(-N // RB_COLS), -(-M // RB_ROWS)), (RB_ROWS,)
    return (-(-N // TILE), -(-M // TILE)), (TILE, TILE)


KERNELS = {"naive": naive, "shared": shared, "regblock": regblock}
