"""The oracle: a two-layer network in numpy float64, written as the equations in SPEC section 1.

Images are columns: X is 784 x N, one-hot labels Y are 10 x N.

    z1 = W1 X + b1 1^T      a1 = sigmoid(z1)
    z2 = W2 a1 + b2 1^T     yhat = softmax(z2)
    J  = (1/N) sum_i -log yhat[y_i, i] + (lambda/2)(||W1||_F^2 + ||W2||_F^2)

Nothing here is shared with the implementations the oracle judges.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
from threadpoolctl import ThreadpoolController

from reference.params import Params

T = TypeVar("T")

_THREADS = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
_POOL = ThreadPoolExecutor(max_workers=max(_THREADS - 1, 1))
_MIN_ELEMENTS_PER_THREAD = 1 << 16  # below this a thread costs more than it saves
_BLAS = ThreadpoolController()


def _by_row_blocks(f: Callable[[slice], T], a: np.ndarray) -> list[T]:
    """[f(rows) for each block of a's rows], the blocks computed at once, one per core.

    Each block runs its own single-threaded BLAS calls and elementwise work (numpy releases
    the GIL), so the H x N work after a product runs on every core while its rows are still
    in cache. Small arrays are done in one call, with BLAS's own threads.
    """
    n_rows = a.shape[0]
    n_blocks = max(1, min(_THREADS, n_rows, a.size // _MIN_ELEMENTS_PER_THREAD))
    if n_blocks == 1:
        return [f(slice(0, n_rows))]
    edges = np.linspace(0, n_rows, n_blocks + 1).astype(int)
    blocks = [slice(lo, hi) for lo, hi in itertools.pairwise(edges)]
    with _BLAS.limit(limits=1, user_api="blas"):
        others = [_POOL.submit(f, rows) for rows in blocks[1:]]
        first = f(blocks[0])
        return [first, *(done.result() for done in others)]


def sigmoid(z: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """1 / (1 + exp(-z)) elementwise, float64, without overflow or warnings for any z.

    exp is only taken of -|z| <= 0, e = exp(-|z|): sigmoid(|z|) = 1 / (1 + e) and
    sigmoid(-|z|) = e / (1 + e). The numerator max([z >= 0], e) is 1 for z >= 0 (e <= 1) and
    e for z < 0. One temporary; the result goes to out when given, which may be z itself.
    (abs, negative and a comparison: numpy vectorises them, not copysign or sign.)
    """
    e = np.abs(z)
    np.negative(e, out=e)
    np.exp(e, out=e)
    numerator = np.empty_like(z) if out is None else out
    np.greater_equal(z, 0.0, out=numerator, casting="unsafe")  # 1.0 or 0.0
    np.maximum(numerator, e, out=numerator)
    e += 1.0
    numerator /= e
    return numerator


def sigmoid_grad(a: np.ndarray) -> np.ndarray:
    """d sigmoid / dz expressed through a = sigmoid(z): a (1 - a)."""
    grad = 1.0 - a
    grad *= a
    return grad


def log_softmax(z: np.ndarray) -> np.ndarray:
    """Column-wise log softmax of a 10 x N array, with the column maximum subtracted."""
    shifted = z - z.max(axis=0, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=0, keepdims=True))


def softmax(z: np.ndarray) -> np.ndarray:
    """Column-wise softmax of a 10 x N array, with the column maximum subtracted."""
    e = np.exp(z - z.max(axis=0, keepdims=True))
    return e / e.sum(axis=0, keepdims=True)


@dataclass
class Forward:
    """Activations of one forward pass: a1 (H x N), z2, yhat (10 x N). (z1 is not kept:
    backprop needs only a1, which overwrites it.)"""

    a1: np.ndarray
    z2: np.ndarray
    yhat: np.ndarray


def forward(p: Params, X: np.ndarray) -> Forward:
    """Forward pass for a batch X (784 x N)."""
    a1 = np.empty((p.hidden, X.shape[1]))

    def hidden(rows: slice) -> np.ndarray:  # z1 = W1 X + b1, a1 = sigmoid(z1), W2 a1 (part)
        z1 = a1[rows]
        np.matmul(p.W1[rows], X, out=z1)
        z1 += p.b1[rows]
        sigmoid(z1, out=z1)
        return p.W2[:, rows] @ z1

    z2 = sum(_by_row_blocks(hidden, a1)) + p.b2
    return Forward(a1, z2, softmax(z2))


def data_loss(z2: np.ndarray, Y: np.ndarray) -> float:
    """Mean cross-entropy (1/N) sum_i -log softmax(z2)[y_i, i], computed by log-sum-exp."""
    return float(-(Y * log_softmax(z2)).sum() / Y.shape[1])


def l2_loss(p: Params, lam: float) -> float:
    """(lambda/2)(||W1||_F^2 + ||W2||_F^2); biases are not regularised."""
    squares = _by_row_blocks(lambda rows: float(np.vdot(p.W1[rows], p.W1[rows])), p.W1)
    return 0.5 * lam * (sum(squares) + float(np.vdot(p.W2, p.W2)))


def loss_terms(p: Params, X: np.ndarray, Y: np.ndarray, lam: float) -> tuple[float, float]:
    """(data term, L2 term) of J for a batch."""
    return data_loss(forward(p, X).z2, Y), l2_loss(p, lam)


def loss(p: Params, X: np.ndarray, Y: np.ndarray, lam: float) -> float:
    """J = data term + L2 term."""
    return sum(loss_terms(p, X, Y, lam))


def backward(p: Params, X: np.ndarray, Y: np.ndarray, lam: float,
             fwd: Forward | None = None, *, lr: float | None = None) -> Params:
    """Gradient of J for a batch of N columns, as a Params of (dW1, db1, dW2, db2).

    The data term is averaged over the batch; the lambda W term is not divided by N.
    With lr, also takes the SGD step p <- p - lr grad in place, each block of hidden units as
    soon as its gradient is ready (its rows still in cache, and no second pass over the
    threads): the same arithmetic as sgd_step(p, grad, lr) afterwards.
    """
    fwd = forward(p, X) if fwd is None else fwd
    dz2 = (fwd.yhat - Y) / Y.shape[1]
    grad = Params(np.empty_like(p.W1), np.empty_like(p.b1), np.empty_like(p.W2),
                  dz2.sum(axis=1, keepdims=True))

    def hidden(rows: slice) -> None:
        a1 = fwd.a1[rows]
        grad.W2[:, rows] = dz2 @ a1.T + lam * p.W2[:, rows]
        dz1 = p.W2[:, rows].T @ dz2  # da1, then in place dz1 = da1 * a1 (1 - a1)
        dz1 *= sigmoid_grad(a1)
        np.matmul(dz1, X.T, out=grad.W1[rows])
        grad.W1[rows] += lam * p.W1[rows]
        grad.b1[rows] = dz1.sum(axis=1, keepdims=True)
        if lr is not None:
            _update_hidden(p, grad, lr, rows)

    _by_row_blocks(hidden, fwd.a1)
    if lr is not None:
        p.b2 -= lr * grad.b2
    return grad


def _update_hidden(p: Params, grad: Params, lr: float, rows: slice) -> None:
    """p <- p - alpha dp in place for the hidden units `rows` (rows of W1 and b1, columns of W2)."""
    p.W1[rows] -= lr * grad.W1[rows]
    p.b1[rows] -= lr * grad.b1[rows]
    p.W2[:, rows] -= lr * grad.W2[:, rows]


def sgd_step(p: Params, grad: Params, lr: float) -> None:
    """p <- p - alpha dp, in place, for every block."""
    _by_row_blocks(lambda rows: _update_hidden(p, grad, lr, rows), p.W1)
    p.b2 -= lr * grad.b2


def predict(p: Params, X: np.ndarray) -> np.ndarray:
    """Predicted class of each column of X (784 x N), as int64 (N,)."""
    return np.argmax(forward(p, X).z2, axis=0)


def accuracy(p: Params, X: np.ndarray, labels: np.ndarray) -> float:
    """Fraction of columns of X whose predicted class equals labels (N,)."""
    return float(np.mean(predict(p, X) == labels))
