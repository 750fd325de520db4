"""The GEMM family against the float64 oracle's verdicts, in the simulator or on a GPU."""

import numpy as np
import pytest
from numba import cuda

from oraclenet.corpus.kernels import KERNEL_BUGS, launch_planted
from oraclenet.gpu.gemm import ALGORITHMS, gemm
from oraclenet.judge.roundoff import compare_gemm, compare_gemm_exact
from oraclenet.judge.tolerances import tolerance
from tests import ratios
from tests.ratios import passes

DTYPES = (np.float32, np.float64)
TRANSPOSES = [(False, False), (False, True), (True, False), (True, True)]
# alpha and beta each 0, 1 or another value: a kernel that ignores alpha when beta = 0, or
# reads C when beta = 0, shows only in some of these.
EVERY_SCALING = [(a, b) for a in (0.0, 1.0, 2.0) for b in (0.0, 1.0, 5.0)]
# Ragged: not multiples of 16 or 64, K = 1; every kernel on a grid of at least two blocks in
# each dimension (16 x 16 tiles for naive and shared: 17 x 18; regblock's 64 x 16 tiles:
# 70 x 17), with a K past one tile and a skinny one.
SHAPES = [(1, 1, 1), (17, 18, 19), (70, 17, 3)]


def operands(rng, M, N, K, dtype, ta, tb, integers=False):
    def draw(shape):
        if integers:
            return rng.integers(-4, 5, size=shape).astype(dtype)
        return rng.standard_normal(shape).astype(dtype)

    A = draw((K, M) if ta else (M, K))
    B = draw((N, K) if tb else (K, N))
    return A, B, draw((M, N))


def ops(A, B, ta, tb):
    return (A.T if ta else A), (B.T if tb else B)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("ta", "tb"), TRANSPOSES)
def test_within_the_roundoff_bound(rng, algorithm, dtype, ta, tb):
    """Every transpose at alpha 2, beta 5: a transpose changes only how op(A) and op(B) are
    read, and every other scaling is test_every_alpha_and_beta's."""
    for M, N, K in SHAPES[1:]:
        A, B, C0 = operands(rng, M, N, K, dtype, ta, tb)
        C = C0.copy()
        gemm(C, A, B, 2.0, 5.0, ta, tb, algorithm)
        passes(compare_gemm(C, *ops(A, B, ta, tb), C0, 2.0, 5.0))


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_every_alpha_and_beta(rng, algorithm, dtype):
    M, N, K = SHAPES[1] if algorithm != "regblock" else SHAPES[2]
    for alpha, beta in EVERY_SCALING:
        A, B, C0 = operands(rng, M, N, K, dtype, False, False)
        C = C0.copy()
        gemm(C, A, B, alpha, beta, algorithm=algorithm)
        passes(compare_gemm(C, A, B, C0, alpha, beta))


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_exact_on_integers_and_k_equal_one(rng, algorithm, dtype):
    for M, N, K in SHAPES:
        A, B, C0 = operands(rng, M, N, K, dtype, False, True, integers=True)
        C = C0.copy()
        gemm(C, A, B, 2.0, 5.0, False, True, algorithm)
        passes(compare_gemm_exact(C, A, B.T, C0, 2.0, 5.0))


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_every_element_written_and_nothing_outside(rng, algorithm):
    """beta = 0 over a NaN-poisoned C, inside a guard band of sentinels on the device; a grid
    of at least two blocks in each dimension."""
    (M, N, K), g = (SHAPES[2] if algorithm == "regblock" else SHAPES[1]), 3
    A, B, _ = operands(rng, M, N, K, np.float64, False, False)
    big = np.full((M + 2 * g, N + 2 * g), -7.25)
    big[g:g + M, g:g + N] = np.nan
    d_big = cuda.to_device(big)
    gemm(d_big[g:g + M, g:g + N], cuda.to_device(A), cuda.to_device(B), 1.0, 0.0,
         algorithm=algorithm)
    out = d_big.copy_to_host()
    inside = out[g:g + M, g:g + N]
    assert not np.isnan(inside).any(), f"{np.isnan(inside).sum()} elements never written"
    passes(compare_gemm(inside, A, B))
    band = out.copy()
    band[g:g + M, g:g + N] = -7.25
    assert (band == -7.25).all(), f"{(band != -7.25).sum()} guard-band elements overwritten"


@pytest.mark.parametrize("bug", sorted(KERNEL_BUGS))
def test_planted_kernel_bugs_are_caught(rng, bug):
    """Three blocks along M (half the row stride leaves the last rows unwritten only then)
    and two along N, with beta 5 and beta 0: the worst verdict must fail by far."""
    A, B, C0 = operands(rng, 40, 17, 35, np.float64, False, False)
    worst = ratios.worst(compare_gemm(launch_planted(bug, C0.copy(), A, B, alpha, beta), A,
                                      B, C0, alpha, beta)
                         for alpha, beta in ((2.0, 5.0), (2.0, 0.0)))
    assert not worst.passed and worst.ratio >= tolerance("teeth.min_bug_ratio"), worst


def test_bad_arguments_are_named():
    a32, a64 = np.ones((3, 4), np.float32), np.ones((4, 5), np.float64)
    with pytest.raises(TypeError, match=r"one dtype for all: C float32, A float32, B float64"):
        gemm(np.ones((3, 5), np.float32), a32, a64)
    with pytest.raises(ValueError, match=r"shapes do not chain: C \(3, 5\) := op\(A\) \(3, 4\) "
                                         r"op\(B\) \(5, 4\)"):
        gemm(np.ones((3, 5)), np.ones((3, 4)), np.ones((4, 5)), trans_b=True)
    with pytest.raises(ValueError, match="algorithm must be one of naive, shared, regblock"):
        gemm(np.ones((3, 5)), np.ones((3, 4)), np.ones((4, 5)), algorithm="cublas")
    with pytest.raises(TypeError, match="B has dtype int64"):
        gemm(np.ones((3, 5)), np.ones((3, 4)), np.ones((4, 5), np.int64))
    x = np.ones((4, 4))
    with pytest.raises(ValueError, match="C overlaps A or B"):
        gemm(x, x, np.ones((4, 4)))
