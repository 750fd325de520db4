"""The network's kernels other than GEMM, Numba CUDA, one factory per dtype.

Arrays are device arrays laid out as the equations: Z (rows x columns), one column per
image. Every constant and accumulator has the data's dtype. Kernels call no device helper
(see gpu/gemm_kernels.py: it would stop PTX builds without a GPU), so softmax and
cross_entropy each find their column maximum themselves.

    add_bias(Z, b)                 Z += b 1^T                    one thread per element
    sigmoid(Z, A)                  A = 1 / (1 + exp(-Z)), stable one thread per element
    softmax(Z, Yhat)               column-wise, max subtracted   one thread per column
    cross_entropy(Z, labels, J)    J[0] += sum_i -log softmax(Z)[y_i, i]  (log-sum-exp)
    output_delta(Yhat, labels, N, D)    D = (Yhat - onehot) / N
    sigmoid_delta(dA, A, dZ)       dZ = dA * A * (1 - A)
    row_sums(X, s)                 s = X 1 (bias gradients)      one thread per row
    sgd(P, G, lr)                  P -= lr G
    sum_squares(X, out)            out[0] += sum X^2 (the L2 term)  grid-stride; a tree per
                                                                 block, one atomic each
    count_correct(Z, labels, out)  out[0] += #{i : argmax Z[:, i] = y_i}
"""

from __future__ import annotations

import math
from functools import cache

import numpy as np
from numba import cuda, from_dtype

THREADS = 128  # one-dimensional launches; a power of two (the tree of sum_squares)
SIGNATURES = {  # for compiling without a GPU; {t} is the dtype
    "add_bias": "void({t}[:, :], {t}[:, :])",
    "sigmoid": "void({t}[:, :], {t}[:, :])",
    "softmax": "void({t}[:, :], {t}[:, :])",
    "cross_entropy": "void({t}[:, :], int64[:], {t}[:])",
    "output_delta": "void({t}[:, :], int64[:], {t}, {t}[:, :])",
    "sigmoid_delta": "void({t}[:, :], {t}[:, :], {t}[:, :])",
    "row_sums": "void({t}[:, :], {t}[:, :])",
    "sgd": "void({t}[:, :], {t}[:, :], {t})",
    "sum_squares": "void({t}[:, :], {t}[:])",
    "count_correct": "void({t}[:, :], int64[:], int64[:])",
}


REDUCTION_ITEMS = 32  # items per thread of sum_squares: fewer blocks, so fewer atomics


def launch(n: int) -> tuple[int, int]:
    """(blocks, threads) covering n items, one thread each."""
    return max(1, -(-n // THREADS)), THREADS


def launch_reduction(n: int) -> tuple[int, int]:
    """(blocks, threads) for sum_squares over n items, about REDUCTION_ITEMS per thread."""
    return max(1, -(-n // (THREADS * REDUCTION_ITEMS))), THREADS


@cache
def kernels(dtype: np.dtype) -> dict:
    zero, one = dtype.type(0), dtype.type(1)
    element = from_dtype(dtype)

    @cuda.jit
    def add_bias(Z, b):
        k = cuda.grid(1)
        if k < Z.size:
            i, j = k // Z.shape[1], k % Z.shape[1]
            Z[i, j] += b[i, 0]

    @cuda.jit
    def sigmoid(Z, A):
        k = cuda.grid(1)
        if k < Z.size:
            i, j = k // Z.shape[1], k % Z.shape[1]
            z = Z[i, j]
            e = math.exp(-abs(z))  # <= 1: never overflows
            A[i, j] = one / (one + e) if z >= zero else e / (one + e)

    @cuda.jit
    def softmax(Z, Yhat):
        j = cuda.grid(1)
        if j < Z.shape[1]:
            top = Z[0, j]
            for i in range(1, Z.shape[0]):
                top = max(top, Z[i, j])
            total = zero
            for i in range(Z.shape[0]):
                Yhat[i, j] = math.exp(Z[i, j] - top)
                total += Yhat[i, j]
            for i in range(Z.shape[0]):
                Yhat[i, j] /= total

    @cuda.jit
    def cross_entropy(Z, labels, J):
        j = cuda.grid(1)
        if j < Z.shape[1]:
            top = Z[0, j]
            for i in range(1, Z.shape[0]):
                top = max(top, Z[i, j])
            total = zero
            for i in range(Z.shape[0]):
                total += math.exp(Z[i, j] - top)
            cuda.atomic.add(J, 0, math.log(total) + top - Z[labels[j], j])

    @cuda.jit
    def output_delta(Yhat, labels, N, D):
        k = cuda.grid(1)
        if k < Yhat.size:
            i, j = k // Yhat.shape[1], k % Yhat.shape[1]
            D[i, j] = (Yhat[i, j] - (one if labels[j] == i else zero)) / N

    @cuda.jit
    def sigmoid_delta(dA, A, dZ):
        k = cuda.grid(1)
        if k < A.size:
            i, j = k // A.shape[1], k % A.shape[1]
            a = A[i, j]
            dZ[i, j] = dA[i, j] * a * (one - a)

    @cuda.jit
    def row_sums(X, s):
        i = cuda.grid(1)
        if i < X.shape[0]:
            total = zero
            for j in range(X.shape[1]):
                total += X[i, j]
            s[i, 0] = total

    @cuda.jit
    def sgd(P, G, lr):
        k = cuda.grid(1)
        if k < P.size:
            i, j = k // P.shape[1], k % P.shape[1]
            P[i, j] -= lr * G[i, j]

    @cuda.jit
    def sum_squares(X, out):
        # Each block sums its THREADS squares in shared memory (a tree), then adds once: one
        # atomic per block, not per element, which would serialise on the one address.
        partial = cuda.shared.array(THREADS, element)
        tid, total = cuda.threadIdx.x, zero
        for k in range(cuda.grid(1), X.size, cuda.gridsize(1)):  # any grid covers X
            x = X[k // X.shape[1], k % X.shape[1]]
            total += x * x
        partial[tid] = total
        cuda.syncthreads()
        half = THREADS // 2
        while half > 0:
            if tid < half:
                partial[tid] += partial[tid + half]
            cuda.syncthreads()
            half //= 2
        if tid == 0:
            cuda.atomic.add(out, 0, partial[0])

    @cuda.jit
    def count_correct(Z, labels, out):
        j = cuda.grid(1)
        if j < Z.shape[1]:
            best = 0
            for i in range(1, Z.shape[0]):
                if Z[i, j] > Z[best, j]:
                    best = i
            if best == labels[j]:
                cuda.atomic.add(out, 0, 1)

    return dict(add_bias=add_bias, sigmoid=sigmoid, softmax=softmax,
                cross_entropy=cross_entropy, output_delta=output_delta,
                sigmoid_delta=sigmoid_delta, row_sums=row_sums, sgd=sgd,
                sum_squares=sum_squares, count_correct=count_correct)
