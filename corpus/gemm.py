"""GEMM implementations that measure the judge, in numpy: honest ones in the summation
orders and precisions a kernel may use (roundoff only), and ones with a bug planted on
purpose. Each computes C := alpha A B + beta C0 (A: M x K, B: K x N) in the dtype of A.

Roundoff only: `orders` - one by one (forward or reversed, with or without a fused
multiply-add), pairwise, in K-blocks of several tile sizes, and BLAS.
Precision downgrades (bugs unless declared): TF32 or bfloat16 inputs, float16 accumulation,
float32 accumulation or a float32 alpha inside a float64 kernel.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..judge.precision import round_significand

Gemm = Callable[..., np.ndarray]  # gemm(A, B, C0, alpha, beta) -> C


def _finish(acc: np.ndarray, C0: np.ndarray, alpha: float, beta: float) -> np.ndarray:
    t = acc.dtype.type
    return t(alpha) * acc + t(beta) * C0.astype(acc.dtype)


def one_by_one(A, B, dtype=None, reverse: bool = False, fused: bool = False,
               k_stop: int | None = None) -> np.ndarray:
    """The K products summed one by one in dtype (default A's); fused: each multiply-add
    rounded once (emulated in float64 for float32, exact enough: a float32 product is exact
    in float64); k_stop < K leaves the last terms out."""
    dtype = np.dtype(A.dtype if dtype is None else dtype)
    K = A.shape[1] if k_stop is None else k_stop
    acc = np.zeros((A.shape[0], B.shape[1]), dtype)
    for k in (range(K - 1, -1, -1) if reverse else range(K)):
        a, b = A[:, k:k + 1], B[k:k + 1, :]
        if fused and dtype == np.float32:
            acc = (acc.astype(np.float64) + a.astype(np.float64) * b.astype(np.float64)
                   ).astype(np.float32)
        else:
            acc += a.astype(dtype) * b.astype(dtype)
    return acc


def pairwise(A, B) -> np.ndarray:
    """The K products summed as a balanced tree."""
    terms = [A[:, k:k + 1] * B[k:k + 1, :] for k in range(A.shape[1])]
    while len(terms) > 1:
        terms = [terms[i] + terms[i + 1] if i + 1 < len(terms) else terms[i]
                 for i in range(0, len(terms), 2)]
    return terms[0]


def blocked(A, B, tile: int) -> np.ndarray:
    """Products of K-blocks of width `tile` (BLAS inside), summed block after block."""
    acc = np.zeros((A.shape[0], B.shape[1]), A.dtype)
    for k in range(0, A.shape[1], tile):
        acc += A[:, k:k + tile] @ B[k:k + tile, :]
    return acc


def orders() -> dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]]:
    """Every honest order, by name: acc(A, B) -> A B in A's dtype."""
    found = {"one by one": one_by_one, "reversed": lambda A, B: one_by_one(A, B, reverse=True),
             "fused": lambda A, B: one_by_one(A, B, fused=True), "pairwise": pairwise,
             "BLAS": lambda A, B: A @ B}
    for tile in (4, 16, 64):
        found[f"tiles of {tile}"] = lambda A, B, tile=tile: blocked(A, B, tile)
    return found


def honest(order: str) -> Gemm:
    accumulate = orders()[order]
    return lambda A, B, C0, alpha, beta: _finish(accumulate(A, B), C0, alpha, beta)


# --- precision downgrades --------------------------------------------------------------------

def input_rounding(drop: int, truncate: bool = False) -> Gemm:
    """float32 inputs rounded to 23 - drop explicit bits (TF32: 13, bfloat16: 16), then
    accumulated in float32 by BLAS: what tensor cores do with float32 data."""
    def gemm(A, B, C0, alpha, beta):
        acc = round_significand(A, drop, truncate) @ round_significand(B, drop, truncate)
        return _finish(acc, C0, alpha, beta)

    return gemm


def float16_accumulation(A, B, C0, alpha, beta) -> np.ndarray:
    """Partial sums kept in float16 (inputs as given), one by one."""
    acc = one_by_one(A, B, dtype=np.float16)
    return _finish(acc.astype(A.dtype), C0, alpha, beta)


def float32_accumulation(A, B, C0, alpha, beta) -> np.ndarray:
    """A float64 kernel whose accumulator is float32 (acc = 0.0f)."""
    acc = one_by_one(A, B, dtype=np.float32).astype(np.float64)
    return _finish(acc, C0, alpha, beta)


def float32_alpha(A, B, C0, alpha, beta) -> np.ndarray:
    """A float64 kernel that scales by alpha held in float32."""
    return np.float64(np.float32(alpha)) * (A @ B) + np.float64(beta) * C0


PRECISION_BUGS: dict[str, Gemm] = {
    "TF32 inputs": input_rounding(13),
    "TF32 inputs, truncated": input_rounding(13, truncate=True),
    "bfloat16 inputs": input_rounding(16),
    "float16 accumulation": float16_accumulation,
}
FLOAT64_PRECISION_BUGS: dict[str, Gemm] = {
    "float32 accumulation in a float64 kernel": float32_accumulation,
    "float32 alpha in a float64 kernel": float32_alpha,
}


# --- other bugs -----------------------------------------------------------------------------

def one_element_off(A, B, C0, alpha, beta):
    """C[M // 2, N // 2] off by 1e-6 of itself."""
    C = _finish(A @ B, C0, alpha, beta)
    C[C.shape[0] // 2, C.shape[1] // 2] *= 1 + 1e-6
    return C


def last_k_tile_dropped(A, B, C0, alpha, beta, tile: int = 16):
    K = A.shape[1]
    keep = (K - 1) // tile * tile
    return _finish(A[:, :keep] @ B[:keep, :], C0, alpha, beta)


def edge_guard_off_by_one(A, B, C0, alpha, beta):
    """`if row < M - 1` for `if row < M`: the last row is left as it was."""
    C = _finish(A @ B, C0, alpha, beta)
    C[-1, :] = C0[-1, :]
    return C


def transposed_square(A, B, C0, alpha, beta):
    """A^T used for A (the shapes fit when A is square)."""
    return _finish(A.T @ B, C0, alpha, beta)


def alpha_beta_swapped(A, B, C0, alpha, beta):
    return _finish(A @ B, C0, beta, alpha)


def product_as_sum(A, B, C0, alpha, beta):
    """The first term a_i0 * b_0j written a_i0 + b_0j."""
    acc = A[:, 1:] @ B[1:, :] + (A[:, :1] + B[:1, :])
    return _finish(acc, C0, alpha, beta)


def k_loop_over_the_grid(A, B, C0, alpha, beta, tile: int = 16):
    """The tile loop bounded by the number of blocks along N (gridDim.x) instead of K's
    tiles: K is cut (or, where N is larger, the loop runs past K into zeros)."""
    tiles = -(-B.shape[1] // tile)
    keep = min(A.shape[1], tiles * tile)
    return _finish(A[:, :keep] @ B[:keep, :], C0, alpha, beta)


def alpha_ignored_when_beta_is_zero(A, B, C0, alpha, beta):
    return _finish(A @ B, C0, alpha if beta != 0 else 1.0, beta)


def one_term_twice(A, B, C0, alpha, beta):
    """The last K term added twice (a loop bound of K + 1 over a clamped index)."""
    acc = A @ B + A[:, -1:] * B[-1:, :]
    return _finish(acc, C0, alpha, beta)


def last_column_block_skipped(A, B, C0, alpha, beta, tile: int = 16):
    """The last partial block of columns never launched (grid rounded down)."""
    C = _finish(A @ B, C0, alpha, beta)
    full = B.shape[1] // tile * tile
    if full < B.shape[1]:
        C[:, full:] = C0[:, full:]
    return C


def wrong_block_stride(A, B, C0, alpha, beta, tile: int = 16):
    """Blocks along M indexed with the tile of N's stride: the second block of rows
    recomputes the first one's."""
    C = _finish(A @ B, C0, alpha, beta)
    if A.shape[0] > tile:
        rows = min(tile, A.shape[0] - tile)
        C[tile:tile + rows] = C[:rows]
    return C


def c_read_when_beta_is_zero(A, B, C0, alpha, beta):
    """beta * C computed even for beta = 0: a NaN left in C (BLAS allows it) comes out."""
    t = A.dtype.type
    return t(alpha) * (A @ B) + t(beta) * C0.astype(A.dtype)


def alpha_applied_twice(A, B, C0, alpha, beta):
    return _finish(A @ B, C0, alpha * alpha, beta)


def beta_left_out(A, B, C0, alpha, beta):
    """C overwritten with alpha A B: C's old value never added."""
    return _finish(A @ B, C0, alpha, 0.0)


def a_read_in_the_other_order(A, B, C0, alpha, beta):
    """A's row-major memory read as column-major (a leading dimension of M for a row-major
    M x K array)."""
    M, K = A.shape
    return _finish(A.ravel("C").reshape((M, K), order="F") @ B, C0, alpha, beta)


class Racing:
    """A missing barrier's race, made repeatable: each call leaves one element of C a stale
    partial sum, a different one each time (a counter stands for the scheduler)."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, A, B, C0, alpha, beta):
        C = _finish(A @ B, C0, alpha, beta)
        self.calls += 1
        i, j = self.calls % C.shape[0], (3 * self.calls) % C.shape[1]
        C[i, j] = _finish(A[i:i + 1, :-1] @ B[:-1, j:j + 1], C0[i:i + 1, j:j + 1], alpha,
                          beta)[0, 0]
        return C


BUGS: dict[str, Gemm] = {
    "a single element off by 1e-6 relative": one_element_off,
    "last K tile dropped": last_k_tile_dropped,
    "edge guard off by one (last row unwritten)": edge_guard_off_by_one,
    "transposed operand on a square matrix": transposed_square,
    "alpha and beta swapped": alpha_beta_swapped,
    "a product written as a sum in one term": product_as_sum,
    "the K loop bounded by the grid size": k_loop_over_the_grid,
    "alpha ignored when beta = 0": alpha_ignored_when_beta_is_zero,
    "one K term added twice": one_term_twice,
    "last column block skipped": last_column_block_skipped,
    "wrong block stride along M": wrong_block_stride,
    "alpha applied twice": alpha_applied_twice,
    "beta left out": beta_left_out,
    "A read in the other order": a_read_in_the_other_order,
}
# Run on C poisoned with NaN and beta = 0, as a BLAS caller may leave it.
POISON_BUGS: dict[str, Gemm] = {"C read when beta is 0": c_read_when_beta_is_zero}
# Run twice, as the battery does when a case fails: the two calls differ.
RACE_BUGS: dict[str, Callable[[], Gemm]] = {"a race on one element": Racing}

# The cause judge/diagnose.py must name for each planted bug (None: outside its catalogue).
CAUSES: dict[str, str | None] = {
    "a single element off by 1e-6 relative": "isolated wrong elements",
    "last K tile dropped": "K terms missing",
    "edge guard off by one (last row unwritten)": "elements never written",
    "transposed operand on a square matrix": "operand transposed or wrongly strided",
    "alpha and beta swapped": "alpha or beta misapplied",
    "a product written as a sum in one term": None,
    "the K loop bounded by the grid size": "K terms missing",
    "alpha ignored when beta = 0": "alpha or beta misapplied",
    "one K term added twice": "K terms added twice",
    "last column block skipped": "elements never written",
    "wrong block stride along M": "misplaced rows or columns",
    "alpha applied twice": "alpha or beta misapplied",
    "beta left out": "alpha or beta misapplied",
    "A read in the other order": "operand transposed or wrongly strided",
    "C read when beta is 0": "C read when beta is 0",
    "a race on one element": "race",
    "beta applied twice over ten in-place calls": "alpha or beta misapplied",
    **{name: "precision downgrade" for name in (*PRECISION_BUGS, *FLOAT64_PRECISION_BUGS)},
}


def in_place_chain(gemm: Gemm, A, B, C, alpha, beta, calls: int) -> list[np.ndarray]:
    """The course's GEMM test: `calls` calls in place on the same C, so that C accumulates
    (SPEC section 2, mode 4). The C before each call, then the final one."""
    chain = [C]
    for _ in range(calls):
        chain.append(gemm(A, B, chain[-1], alpha, beta))
    return chain


def beta_applied_twice(gemm: Gemm) -> Gemm:
    """beta applied to C twice (C := alpha A B + beta (beta C)): harmless at beta = 1, a
    factor beta too many at every one of the course's in-place calls."""
    return lambda A, B, C0, alpha, beta: gemm(A, B, C0.dtype.type(beta) * C0, alpha, beta)
