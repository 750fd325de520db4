"""The GEMM family against the float64 oracle's verdicts, in the simulator or on a GPU."""

import warnings

import numpy as np
import pytest
from numba import cuda

from oraclenet.gpu.gemm import ALGORITHMS, gemm
from oraclenet.gpu.gemm_kernels import launch_shape
from oraclenet.judge.roundoff import assert_passes, compare_gemm, compare_gemm_exact
from oraclenet.judge.tolerances import tolerance
from tests.gpu.planted_kernels import KERNEL_BUGS, planted

DTYPES = (np.float32, np.float64)
TRANSPOSES = [(False, False), (False, True), (True, False), (True, True)]
SCALINGS = [(1.0, 0.0), (2.0, 5.0)]
# Ragged: not multiples of 16 or 64, K = 1, two tile rows and a K past one tile, and more
# than 64 rows (two regblock tiles) with skinny N and K.
SHAPES = [(1, 1, 1), (17, 9, 19), (70, 5, 3)]


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
    for M, N, K in SHAPES[1:]:
        for alpha, beta in SCALINGS:
            A, B, C0 = operands(rng, M, N, K, dtype, ta, tb)
            C = C0.copy()
            gemm(C, A, B, alpha, beta, ta, tb, algorithm)
            assert_passes(compare_gemm(C, *ops(A, B, ta, tb), C0, alpha, beta))


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_exact_on_integers_and_k_equal_one(rng, algorithm, dtype):
    for M, N, K in SHAPES:
        A, B, C0 = operands(rng, M, N, K, dtype, False, True, integers=True)
        C = C0.copy()
        gemm(C, A, B, 2.0, 5.0, False, True, algorithm)
        assert_passes(compare_gemm_exact(C, A, B.T, C0, 2.0, 5.0))


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_every_element_written_and_nothing_outside(rng, algorithm):
    """beta = 0 over a NaN-poisoned C, inside a guard band of sentinels on the device."""
    M, N, K, g = 17, 9, 19, 3
    A, B, _ = operands(rng, M, N, K, np.float64, False, False)
    big = np.full((M + 2 * g, N + 2 * g), -7.25)
    big[g:g + M, g:g + N] = np.nan
    d_big = cuda.to_device(big)
    gemm(d_big[g:g + M, g:g + N], cuda.to_device(A), cuda.to_device(B), 1.0, 0.0,
         algorithm=algorithm)
    out = d_big.copy_to_host()
    inside = out[g:g + M, g:g + N]
    assert not np.isnan(inside).any(), f"{np.isnan(inside).sum()} elements never written"
    assert_passes(compare_gemm(inside, A, B))
    band = out.copy()
    band[g:g + M, g:g + N] = -7.25
    assert (band == -7.25).all(), f"{(band != -7.25).sum()} guard-band elements overwritten"


@pytest.mark.parametrize("bug", sorted(KERNEL_BUGS))
def test_planted_kernel_bugs_are_caught(rng, bug):
    dtype = np.dtype(np.float64)
    M, N, K = 17, 9, 35
    A, B, C0 = operands(rng, M, N, K, dtype, False, False)
    C = cuda.to_device(C0)
    grid, block = launch_shape("shared", M, N)
    with warnings.catch_warnings():  # a race reads stale shared memory, which may overflow:
        warnings.simplefilter("ignore", RuntimeWarning)  # that is the bug, seen in the verdict
        planted(bug, dtype)[grid, block](C, cuda.to_device(A), cuda.to_device(B),
                                         dtype.type(2), dtype.type(5))
    v = compare_gemm(C.copy_to_host(), A, B, C0, 2.0, 5.0)
    assert not v.passed and v.ratio >= tolerance("teeth.min_bug_ratio"), v


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
