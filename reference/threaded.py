"""network.step with its elementwise work split across the cores: the same numbers as
network.step, bit for bit (tests/test_network.py), in less time on a multi-core CPU
(`oraclenet bench` times both).

Every product is the same whole BLAS call as in network.py (BLAS threads it itself); only the
elementwise passes over H x N and H x 784 arrays, which numpy runs on one core, are cut into
blocks of hidden units, one block per core:

    z1 = W1 X                       blocks: z1 += b1, a1 = sigmoid(z1)
    z2 = W2 a1 + b2, yhat, J, dz2   dW2 = dz2 a1^T + lambda W2, db2, da1 = W2^T dz2
                                    blocks: dz1 = da1 * a1 (1 - a1)
    dW1 = dz1 X^T                   blocks: dW1 += lambda W1, db1 = rowsum dz1, W1 and b1
    W2 and b2 updated                       updated

An elementwise result does not depend on which block computes it, so the numbers are
network.step's. The sigmoid is written over z1 (sigmoid_in_place): other operations than
network.sigmoid's, the same bits, as tests/test_network.py checks on signed zeros,
subnormals, the edges of exp's range, infinities and NaN. It pays only when BLAS's idle
threads sleep soon after a product instead of spinning on the cores the blocks need:
OPENBLAS_THREAD_TIMEOUT, which only an entry point can set, before numpy loads
(common/process.py). The thread pool starts on first use.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import cache

import numpy as np

from ..common.params import Params
from .network import data_loss, l2_loss, sigmoid_grad, softmax

MIN_ELEMENTS_PER_THREAD = 1 << 16  # below this a thread costs more than it saves


def cores() -> int:
    """CPUs this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


@cache
def _pool() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=max(cores() - 1, 1),
                              thread_name_prefix="oraclenet-threaded")


def row_blocks(n_rows: int, size: int, blocks: int | None = None) -> list[slice]:
    """Near-equal blocks of rows: one per core, fewer for small arrays (`size` elements)."""
    if blocks is None:
        blocks = max(1, min(cores(), n_rows, size // MIN_ELEMENTS_PER_THREAD))
    edges = np.linspace(0, n_rows, blocks + 1).astype(int)
    return [slice(lo, hi) for lo, hi in itertools.pairwise(edges) if hi > lo]


def sigmoid_in_place(z: np.ndarray) -> np.ndarray:
    """network.sigmoid(z) written over z (float64) and returned, bit for bit the same
    numbers (tests/test_network.py) with one temporary instead of several.

    network.sigmoid's numerator where(z >= 0, 1, e), e = exp(-|z|) <= 1, is max([z >= 0], e):
    1 where z >= 0, e elsewhere (NaN where z is). z is read only by the comparison that
    first overwrites it, element by element.
    """
    e = np.abs(z)
    np.negative(e, out=e)
    np.exp(e, out=e)
    np.greater_equal(z, 0.0, out=z, casting="unsafe")  # 1.0 or 0.0
    np.maximum(z, e, out=z)
    e += 1.0
    z /= e
    return z


def _by_blocks(f: Callable[[slice], None], blocks: list[slice]) -> None:
    """f(rows) for every block at once, one block per thread (numpy releases the GIL)."""
    others = [_pool().submit(f, rows) for rows in blocks[1:]]
    f(blocks[0])
    for done in others:
        done.result()


def step(p: Params, X: np.ndarray, Y: np.ndarray, reg: float, lr: float,
         blocks: int | None = None) -> float:
    """network.step(p, X, Y, reg, lr): one SGD step on X (784 x N) and Y (10 x N), float64,
    in place; returns J before it. `blocks` forces the number of row blocks (default: one
    per core, fewer for small H N)."""
    N = X.shape[1]
    rows_of = row_blocks(p.hidden, p.hidden * N, blocks)
    a1 = p.W1 @ X

    def hidden_forward(rows: slice) -> None:
        z1 = a1[rows]
        z1 += p.b1[rows]
        sigmoid_in_place(z1)

    _by_blocks(hidden_forward, rows_of)
    z2 = p.W2 @ a1 + p.b2
    J = data_loss(z2, Y) + l2_loss(p, reg)
    dz2 = (softmax(z2) - Y) / N
    dW2 = dz2 @ a1.T
    dW2 += reg * p.W2
    db2 = dz2.sum(axis=1, keepdims=True)
    dz1 = p.W2.T @ dz2

    def hidden_delta(rows: slice) -> None:
        dz1[rows] *= sigmoid_grad(a1[rows])

    _by_blocks(hidden_delta, rows_of)
    dW1 = dz1 @ X.T

    def hidden_update(rows: slice) -> None:
        dW1[rows] += reg * p.W1[rows]
        p.W1[rows] -= lr * dW1[rows]
        p.b1[rows] -= lr * dz1[rows].sum(axis=1, keepdims=True)

    _by_blocks(hidden_update, rows_of)
    p.W2 -= lr * dW2
    p.b2 -= lr * db2
    return J
