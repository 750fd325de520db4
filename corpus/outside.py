"""Outside implementations in the front door's conventions, for the tests and benchmarks of
`oraclenet check` and `oraclenet regress`: the correct one, honest variants and planted
regressions, each importable as oraclenet.corpus.outside:NAME (as a user names theirs).

    step  f(W1, b1, W2, b2, X, Y, lr, reg) -> (W1, b1, W2, b2)
    gemm  f(C, A, B, alpha, beta), C := alpha A B + beta C in place
"""

from __future__ import annotations

import numpy as np

from ..common.params import Params
from ..reference import network

# --- training steps ---------------------------------------------------------------------------


def step(W1, b1, W2, b2, X, Y, lr, reg):
    """The oracle's SGD step, on copies."""
    p = Params(W1.copy(), b1.copy(), W2.copy(), b2.copy())
    network.step(p, X, Y, reg, lr)
    return tuple(p.blocks().values())


def reversed_hidden_rows(W1, b1, W2, b2, X, Y, lr, reg):
    """Honest: the hidden units in reverse order, so every product sums in another order."""
    W1n, b1n, W2n, b2n = step(W1[::-1], b1[::-1], W2[:, ::-1], b2, X, Y, lr, reg)
    return W1n[::-1], b1n[::-1], W2n[:, ::-1], b2n


class Reordered:
    """Honest: the oracle's step on the hidden units and on the batch's columns in a random
    order drawn from `seed`, so that every product and batch sum adds in another order."""

    def __init__(self, seed: int):
        self.seed = seed

    def __call__(self, W1, b1, W2, b2, X, Y, lr, reg):
        rng = np.random.default_rng([self.seed, 12])
        h, n = rng.permutation(W1.shape[0]), rng.permutation(X.shape[1])
        back = np.argsort(h)
        W1n, b1n, W2n, b2n = step(W1[h], b1[h], W2[:, h], b2, X[:, n], Y[:, n], lr, reg)
        return W1n[back], b1n[back], W2n[:, back], b2n


def l2_on_b1(W1, b1, W2, b2, X, Y, lr, reg):
    """Planted: the L2 term applied to b1 as well."""
    W1n, b1n, W2n, b2n = step(W1, b1, W2, b2, X, Y, lr, reg)
    return W1n, b1n - lr * reg * b1, W2n, b2n


def extra_copy_of_X(W1, b1, W2, b2, X, Y, lr, reg):
    """Planted, for speed: the batch copied once more, to no purpose (at the subjects' H 16
    and batch 250 it costs 13% to 17% of a step: near the 10% a check calls slower)."""
    X = np.array(X, order="F", copy=True)
    return step(W1, b1, W2, b2, X, Y, lr, reg)


def extra_copy_of_X_by_columns(W1, b1, W2, b2, X, Y, lr, reg):
    """Planted, for speed: the batch copied once more, column by column, as a loop that
    gathers a batch's images copies it (about half the speed)."""
    X = np.stack([X[:, j].copy() for j in range(X.shape[1])], axis=1)
    return step(W1, b1, W2, b2, X, Y, lr, reg)


class LrHalvedAfter:
    """Planted: the learning rate halved once `batches` steps (an epoch) have been taken."""

    def __init__(self, batches: int) -> None:
        self.batches, self.calls = batches, 0

    def __call__(self, W1, b1, W2, b2, X, Y, lr, reg):
        self.calls += 1
        return step(W1, b1, W2, b2, X, Y, lr if self.calls <= self.batches else lr / 2, reg)


# An epoch of `oraclenet regress`'s settings: mnist5k's 4,500 training images in batches of
# 250 (regress/subjects.py), for a check run that names this function.
lr_halved_after_the_first_epoch = LrHalvedAfter(18)

# --- GEMMs ------------------------------------------------------------------------------------


def _tiled(C, A, B, alpha, beta, tile: int) -> None:
    AB = np.zeros((A.shape[0], B.shape[1]), dtype=np.float64)
    for k in range(0, A.shape[1], tile):  # K in tiles, each tile's product added
        AB += A[:, k:k + tile].astype(np.float64) @ B[k:k + tile].astype(np.float64)
    AB = AB.astype(C.dtype)
    C[...] = alpha * AB if beta == 0 else alpha * AB + beta * C


def gemm_tile_16(C, A, B, alpha, beta):
    _tiled(C, A, B, alpha, beta, 16)


def gemm_tile_32(C, A, B, alpha, beta):
    """Honest: gemm_tile_16 with another tile size."""
    _tiled(C, A, B, alpha, beta, 32)


def tf32(M: np.ndarray) -> np.ndarray:
    """float32 values rounded to TF32 (10 explicit significand bits), as tensor cores do."""
    bits = np.ascontiguousarray(M, np.float32).view(np.uint32)
    return ((bits + np.uint32(0x1000)) & np.uint32(0xFFFFE000)).view(np.float32)


def gemm_tf32_inputs(C, A, B, alpha, beta):
    """Planted, for precision: gemm_tile_16 on inputs rounded to TF32."""
    _tiled(C, tf32(A), tf32(B), alpha, beta, 16)


class OnDevice:
    """A host GEMM called on Numba device arrays (copied to the host and back), as a device
    kernel is called with `--arrays numba`."""

    def __init__(self, gemm):
        self.gemm = gemm

    def __call__(self, C, A, B, alpha, beta):
        host = C.copy_to_host()
        self.gemm(host, A.copy_to_host(), B.copy_to_host(), alpha, beta)
        C.copy_to_device(host)


gemm_tile_16_on_device = OnDevice(gemm_tile_16)
gemm_tf32_inputs_on_device = OnDevice(gemm_tf32_inputs)
