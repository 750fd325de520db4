"""A shared-memory tiled GEMM in Numba CUDA, in the style tutorials teach, as a student
writes it: C := alpha A B + beta C in place, row-major device arrays (float32 or float64).

`gemm_gridDim_bug` has the classic bug: its tile loop runs over gridDim.x tiles, the number
of blocks across C, instead of over the tiles of K. Whenever K needs more tiles than C has
blocks across, part of every dot product is dropped. `gemm` is its correct twin.

    oraclenet check gemm --impl tiled_gemm.py:gemm_gridDim_bug --arrays numba --report out
    NUMBA_ENABLE_CUDASIM=1 oraclenet check gemm ...    (no GPU: Numba's simulator)
"""

import math

from numba import cuda

TILE = 16


def _kernel(loop_over_k: bool):
    @cuda.jit
    def kernel(C, A, B, alpha, beta):
        sA = cuda.shared.array((TILE, TILE), dtype=C.dtype)
        sB = cuda.shared.array((TILE, TILE), dtype=C.dtype)
        tx, ty = cuda.threadIdx.x, cuda.threadIdx.y
        row = cuda.blockIdx.y * TILE + ty
        col = cuda.blockIdx.x * TILE + tx
        M, N, K = C.shape[0], C.shape[1], A.shape[1]
        tiles = (K + TILE - 1) // TILE if loop_over_k else cuda.gridDim.x
        acc = 0.0
        for t in range(tiles):
            k = t * TILE
            sA[ty, tx] = A[row, k + tx] if row < M and k + tx < K else 0.0
            sB[ty, tx] = B[k + ty, col] if k + ty < K and col < N else 0.0
            cuda.syncthreads()
            for i in range(TILE):
                acc += sA[ty, i] * sB[i, tx]
            cuda.syncthreads()
        if row < M and col < N:
            # beta = 0 must not read C, which may hold NaN
            C[row, col] = alpha * acc + beta * C[row, col] if beta != 0 else alpha * acc

    return kernel


_correct, _buggy = _kernel(True), _kernel(False)


def _launch(kernel, C, A, B, alpha, beta):
    blocks = (math.ceil(C.shape[1] / TILE), math.ceil(C.shape[0] / TILE))
    kernel[blocks, (TILE, TILE)](C, A, B, alpha, beta)
    cuda.synchronize()


def gemm(C, A, B, alpha, beta):
    _launch(_correct, C, A, B, alpha, beta)


def gemm_gridDim_bug(C, A, B, alpha, beta):
    _launch(_buggy, C, A, B, alpha, beta)
