"""Bugs planted on purpose, for the tests that prove the checks have teeth.

Each variant is a test-only copy of one computation with one classic mistake in it.
"""

import itertools

import numpy as np

from oraclenet.common.params import Params
from oraclenet.reference import network

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


# --- a second implementation: the network's step in float32, written apart from the oracle --


def float32_values(p, X, Y):
    """p, X, Y rounded to float32 and back, so that both implementations see the same inputs."""
    as32 = [np.asarray(a, np.float32).astype(np.float64) for a in (*p.blocks().values(), X, Y)]
    return Params(*as32[:4]), as32[4], as32[5]


def backward_float32(p, X, Y, lam):
    """(gradient, loss) computed entirely in float32, straight from SPEC section 1."""
    f = np.float32
    W1, b1, W2, b2 = (a.astype(f) for a in p.blocks().values())
    X, Y, lam, N = X.astype(f), Y.astype(f), f(lam), f(X.shape[1])
    z1 = W1 @ X + b1
    a1 = np.exp(-np.logaddexp(f(0), -z1))
    z2 = W2 @ a1 + b2
    shifted = z2 - z2.max(axis=0)
    log_yhat = shifted - np.log(np.exp(shifted).sum(axis=0))
    J = -(Y * log_yhat).sum() / N + lam / f(2) * ((W1 * W1).sum() + (W2 * W2).sum())
    dz2 = (np.exp(log_yhat) - Y) / N
    dz1 = (W2.T @ dz2) * a1 * (f(1) - a1)
    grad = Params(dz1 @ X.T + lam * W1, dz1.sum(axis=1, keepdims=True),
                  dz2 @ a1.T + lam * W2, dz2.sum(axis=1, keepdims=True))
    return grad, float(J)


def backward_by_column_parts(p, X, Y, lam, parts):
    """float64, the batch split in column parts whose data gradients are summed afterwards
    (as data parallelism does), lambda W added once."""
    N = X.shape[1]
    edges = np.linspace(0, N, parts + 1).astype(int)
    total = None
    for lo, hi in itertools.pairwise(edges):
        if hi == lo:
            continue
        g = _backward(p, X[:, lo:hi], Y[:, lo:hi], 0.0)
        scaled = [a * ((hi - lo) / N) for a in g.blocks().values()]
        total = scaled if total is None else [t + s for t, s in zip(total, scaled, strict=True)]
    return Params(total[0] + lam * p.W1, total[1], total[2] + lam * p.W2, total[3])
