"""Bugs planted on purpose, for the tests that prove the checks have teeth.

Each variant is a test-only copy of one computation with one classic mistake in it.
"""

import numpy as np

from reference import network
from reference.params import Params

# --- gradient bugs: each is a drop-in replacement for network.backward ----------------------

_backward = network.backward  # the correct one, kept so a bug can stand in for it


def backward_wrong_sigmoid_derivative(p, X, Y, lam):
    """dz1 = da1 * a1 instead of da1 * a1 * (1 - a1): corrupts dW1 and db1 only."""
    fwd = network.forward(p, X)
    good = _backward(p, X, Y, lam, fwd)
    da1 = p.W2.T @ ((fwd.yhat - Y) / Y.shape[1])
    dz1 = da1 * fwd.a1
    return Params(dz1 @ X.T + lam * p.W1, dz1.sum(axis=1, keepdims=True), good.W2, good.b2)


def backward_missing_l2_in_dW1(p, X, Y, lam):
    """dW1 without + lambda W1: corrupts dW1 only."""
    g = _backward(p, X, Y, lam)
    return Params(g.W1 - lam * p.W1, g.b1, g.W2, g.b2)


def backward_db2_averaged(p, X, Y, lam):
    """db2 = mean of dz2 over the batch instead of the sum: corrupts db2 only."""
    g = _backward(p, X, Y, lam)
    return Params(g.W1, g.b1, g.W2, g.b2 / Y.shape[1])


GRADIENT_BUGS = {
    "wrong sigmoid derivative": (backward_wrong_sigmoid_derivative, {"W1", "b1"}),
    "missing L2 term in dW1": (backward_missing_l2_in_dW1, {"W1"}),
    "db2 averaged instead of summed": (backward_db2_averaged, {"b2"}),
}

# --- GEMM stand-ins: numpy products in other summation orders, correct or buggy -------------


def gemm_k_order(A, B, reverse=False, dtype=None, k_stop=None):
    """Sum the K rank-1 products one by one in dtype (default A's), optionally in reverse
    order and optionally stopping early (k_stop < K drops the last terms)."""
    dtype = A.dtype if dtype is None else np.dtype(dtype)
    K = A.shape[1] if k_stop is None else k_stop
    order = range(K - 1, -1, -1) if reverse else range(K)
    acc = np.zeros((A.shape[0], B.shape[1]), dtype=dtype)
    for k in order:
        acc += (A[:, k:k + 1].astype(dtype) * B[k:k + 1, :].astype(dtype)).astype(dtype)
    return acc


def gemm_blocked(A, B, block):
    """Products of K-blocks of width `block` (BLAS inside), summed block after block."""
    acc = np.zeros((A.shape[0], B.shape[1]), dtype=A.dtype)
    for k in range(0, A.shape[1], block):
        acc += A[:, k:k + block] @ B[k:k + block, :]
    return acc
