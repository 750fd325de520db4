"""GEMM kernels with one classic bug each: copies of gpu/gemm_kernels.py's shared-memory
kernel, each changed in one place, for the tests and the separation corpus. Numba CUDA: on a
GPU or in the simulator (the caller chooses, gpu/target.py)."""

from __future__ import annotations

import numpy as np
from numba import cuda, float32, from_dtype

from ..gpu.gemm_kernels import PADDED, TILE


def _shared_variant(dtype, drop_last_tile=False, skip_last_row=False, no_barrier=False,
                    accumulate_in_float32=False, row_stride=TILE, alpha_only_if_beta=False,
                    tf32_inputs=False):
    zero = dtype.type(0)
    element = from_dtype(dtype)
    split = dtype.type(2.0 ** 13 + 1)  # Veltkamp: keeps 24 - 13 = 11 bits, TF32's

    @cuda.jit
    def kernel(C, A, B, alpha, beta):
        sA = cuda.shared.array((TILE, PADDED), element)
        sB = cuda.shared.array((TILE, PADDED), element)
        tx, ty = cuda.threadIdx.x, cuda.threadIdx.y
        i = cuda.blockIdx.y * row_stride + ty
        j = cuda.blockIdx.x * TILE + tx
        M, N, K = C.shape[0], C.shape[1], A.shape[1]
        acc = zero
        k_end = (K - 1) // TILE * TILE if drop_last_tile else K
        for k0 in range(0, k_end, TILE):
            sA[ty, tx] = A[i, k0 + tx] if i < M and k0 + tx < K else zero
            sB[ty, tx] = B[k0 + ty, j] if k0 + ty < K and j < N else zero
            if tf32_inputs:  # what tensor cores do to float32 inputs: round them to TF32
                a, b = sA[ty, tx], sB[ty, tx]
                ca, cb = split * a, split * b
                sA[ty, tx] = ca - (ca - a)
                sB[ty, tx] = cb - (cb - b)
            if not no_barrier:
                cuda.syncthreads()
            for kk in range(TILE):
                if accumulate_in_float32:  # each partial sum rounded to float32
                    acc = float32(acc + sA[ty, kk] * sB[kk, tx])
                else:
                    acc += sA[ty, kk] * sB[kk, tx]
            if not no_barrier:
                cuda.syncthreads()
        rows = M - 1 if skip_last_row else M
        if i < rows and j < N:
            if beta != 0:
                C[i, j] = alpha * acc + beta * C[i, j]
            else:
                C[i, j] = acc if alpha_only_if_beta else alpha * acc

    return kernel


KERNEL_BUGS = {
    "last K tile dropped": dict(drop_last_tile=True),
    "last row of C not written": dict(skip_last_row=True),
    "missing barrier": dict(no_barrier=True),
    "float32 accumulation in a float64 kernel": dict(accumulate_in_float32=True),
    "blocks along M indexed with half the tile's stride": dict(row_stride=TILE // 2),
    "alpha ignored when beta = 0": dict(alpha_only_if_beta=True),
}
# The cause judge/diagnose.py must name for each (a missing barrier: a race, seen when the
# failing call is made again, or wrong elements it cannot place: not in the catalogue alone).
KERNEL_CAUSES = {
    "last K tile dropped": "K terms missing",
    "last row of C not written": "elements never written",
    "missing barrier": "race",
    "float32 accumulation in a float64 kernel": "precision downgrade",
    "blocks along M indexed with half the tile's stride": "blocks written twice or never",
    "alpha ignored when beta = 0": "alpha or beta misapplied",
}


# A precision regression rather than a bug in any one element: float32 inputs rounded to TF32
# (tests/test_regress.py plants it in oraclenet.gpu's shared kernel).
TF32_INPUTS = dict(tf32_inputs=True)


def planted(bug: str, dtype):
    return _shared_variant(np.dtype(dtype), **KERNEL_BUGS[bug])


def tf32_shared(dtype):
    """The shared-memory kernel with its float32 inputs rounded to TF32."""
    return _shared_variant(np.dtype(dtype), **TF32_INPUTS)


def launch_planted(bug: str, C, A, B, alpha: float, beta: float) -> np.ndarray:
    """C := the planted kernel's alpha A B + beta C on host arrays; returns C. (A race reads
    stale shared memory, which may overflow in the simulator: the verdict shows it.)"""
    import warnings

    dtype = np.dtype(C.dtype)
    grid = (-(-C.shape[1] // TILE), -(-C.shape[0] // TILE))
    dC = cuda.to_device(C)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        planted(bug, dtype)[grid, (TILE, TILE)](dC, cuda.to_device(A), cuda.to_device(B),
                                                dtype.type(alpha), dtype.type(beta))
    return dC.copy_to_host()
