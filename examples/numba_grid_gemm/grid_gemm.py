"""A GEMM kernel in Numba CUDA written the way tutorials write their first one: `import
numba`, one thread per element of C found with `numba.cuda.grid(2)`, C := alpha A B + beta C
in place on row-major device arrays (float32 or float64).

`gemm_floor_grid` sizes its grid with floor division, C.shape[0] // TPB blocks: the last
partial block of rows and of columns is never launched, so C's ragged edge is never written
(and a C smaller than a block gets no block at all). `gemm` rounds up: its correct twin.

    NUMBA_ENABLE_CUDASIM=1 oraclenet check gemm --impl grid_gemm.py:gemm_floor_grid \
        --arrays numba                  (no GPU: Numba's simulator; on a GPU, without it)
"""

import math

import numba

TPB = 16  # threads per block along each dimension


@numba.cuda.jit
def matmul(C, A, B, alpha, beta):
    i, j = numba.cuda.grid(2)
    if i < C.shape[0] and j < C.shape[1]:
        tmp = 0.0
        for k in range(A.shape[1]):
            tmp += A[i, k] * B[k, j]
        # beta = 0 must not read C, which may hold NaN
        C[i, j] = alpha * tmp + beta * C[i, j] if beta != 0 else alpha * tmp


def gemm(C, A, B, alpha, beta):
    blocks = (math.ceil(C.shape[0] / TPB), math.ceil(C.shape[1] / TPB))
    matmul[blocks, (TPB, TPB)](C, A, B, alpha, beta)


def gemm_floor_grid(C, A, B, alpha, beta):
    blocks = (C.shape[0] // TPB, C.shape[1] // TPB)
    matmul[blocks, (TPB, TPB)](C, A, B, alpha, beta)
