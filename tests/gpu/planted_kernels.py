"""GEMM kernels with one classic bug each, for the tests that prove the checks have teeth.
Test-only copies of gpu/gemm_kernels.py's kernels, each changed in one place."""

from numba import cuda, float32, from_dtype

from oraclenet.gpu.gemm_kernels import PADDED, TILE


def _shared_variant(dtype, drop_last_tile=False, skip_last_row=False, no_barrier=False,
                    accumulate_in_float32=False):
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
        k_end = (K - 1) // TILE * TILE if drop_last_tile else K
        for k0 in range(0, k_end, TILE):
            sA[ty, tx] = A[i, k0 + tx] if i < M and k0 + tx < K else zero
            sB[ty, tx] = B[k0 + ty, j] if k0 + ty < K and j < N else zero
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
            C[i, j] = alpha * acc + beta * C[i, j] if beta != 0 else alpha * acc

    return kernel


KERNEL_BUGS = {
    "last K tile dropped": dict(drop_last_tile=True),
    "last row of C not written": dict(skip_last_row=True),
    "missing barrier": dict(no_barrier=True),
    "float32 accumulation in a float64 kernel": dict(accumulate_in_float32=True),
}


def planted(bug: str, dtype):
    return _shared_variant(dtype, **KERNEL_BUGS[bug])
