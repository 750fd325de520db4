"""The roundoff-aware comparisons: correct products pass at any order, bugs fail by far."""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from oraclenet.corpus.gemm import blocked, one_by_one
from oraclenet.judge.roundoff import (
    NAN_ULPS,
    assert_passes,
    compare_gemm,
    compare_gemm_exact,
    compare_rowsum,
    compare_ulps,
    exact_limit,
    gamma,
    ulp_distance,
    unit_roundoff,
)
from oraclenet.judge.tolerances import tolerance

FLOATS = (np.float32, np.float64)
# Ragged sizes: not multiples of any tile, K = 1 included, the network's skinny shapes.
SHAPES = [(1, 1, 1), (7, 5, 1), (13, 11, 37), (10, 33, 29), (31, 3, 784)]


def operands(rng, M, N, K, dtype):
    A = rng.standard_normal((M, K)).astype(dtype)
    B = rng.standard_normal((K, N)).astype(dtype)
    C0 = rng.standard_normal((M, N)).astype(dtype)
    return A, B, C0


# --- basics ----------------------------------------------------------------------------------

def test_unit_roundoff_and_gamma():
    assert unit_roundoff(np.float32) == 2.0 ** -24
    assert unit_roundoff(np.float64) == 2.0 ** -53
    u = 2.0 ** -24
    assert gamma(3, np.float32) == 3 * u / (1 - 3 * u)
    with pytest.raises(ValueError, match="undefined"):
        gamma(2 ** 24, np.float32)


@pytest.mark.parametrize("dtype", FLOATS)
def test_ulp_distance_counts_representable_numbers(dtype):
    one = np.array(1.0, dtype)
    up = np.nextafter(one, np.array(2.0, dtype))
    assert ulp_distance(one, up) == 1
    assert ulp_distance(up, one) == 1
    tiny = np.array(np.finfo(dtype).smallest_subnormal, dtype)
    assert ulp_distance(-tiny, tiny) == 2  # across zero: -tiny, 0, +tiny
    assert ulp_distance(np.array(0.0, dtype), np.array(-0.0, dtype)) == 0
    big = np.array(np.finfo(dtype).max, dtype)
    assert ulp_distance(-big, big) == 2 * ulp_distance(np.array(0.0, dtype), big)


@pytest.mark.parametrize("dtype", FLOATS)
def test_nan_never_passes(dtype):
    nan, one = np.array(np.nan, dtype), np.array(1.0, dtype)
    assert ulp_distance(nan, one) == NAN_ULPS
    assert ulp_distance(nan, nan) == NAN_ULPS
    assert not compare_ulps(np.array([nan]), np.array([1.0]), max_ulps=1e30).passed


@given(st.data())
def test_ulp_distance_is_a_metric_on_floats(data):
    dtype = data.draw(st.sampled_from(FLOATS))
    elements = st.floats(width=np.finfo(dtype).bits, allow_nan=False)
    a, b, c = (data.draw(hnp.arrays(dtype, 5, elements=elements)) for _ in range(3))
    ab, ac, cb = (ulp_distance(x, y).tolist() for x, y in ((a, b), (a, c), (c, b)))  # exact
    assert ab == ulp_distance(b, a).tolist()
    assert [d == 0 for d in ab] == (a == b).tolist()
    assert all(d <= d1 + d2 for d, d1, d2 in zip(ab, ac, cb, strict=True))


def test_verdict_names_the_worst_element_and_both_values():
    expected = np.zeros((3, 4))
    actual = expected.copy()
    actual[2, 1] = 5e-3
    v = compare_ulps(actual, expected, max_ulps=4)
    assert not v.passed and v.index == (2, 1) and v.actual == 5e-3 and v.expected == 0.0
    assert v.n_failed == 1 and v.size == 12
    with pytest.raises(AssertionError, match=r"where: \[2, 1\]: actual 0.005, expected 0.0"):
        assert_passes(v)


# --- GEMM: correct products in any summation order pass ---------------------------------------

@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize(("M", "N", "K"), SHAPES)
def test_correct_gemm_in_any_order_passes(rng, dtype, M, N, K):
    A, B, C0 = operands(rng, M, N, K, dtype)
    for alpha, beta in ((1.0, 0.0), (2.0, 5.0)):
        def finish(AB, alpha=alpha, beta=beta):
            return (dtype(alpha) * AB + dtype(beta) * C0).astype(dtype)

        for name, AB in {"blas": A @ B, "forward": one_by_one(A, B),
                         "reverse": one_by_one(A, B, reverse=True),
                         "blocked": blocked(A, B, 4)}.items():
            v = compare_gemm(finish(AB), A, B, C0, alpha, beta)
            assert v.passed, f"{name} order, alpha={alpha}, beta={beta}: {v}"


@pytest.mark.parametrize("dtype", FLOATS)
def test_correct_gemm_uses_a_fraction_of_the_bound(rng, dtype):
    """Errors grow like sqrt(K) u, the bound like K u: a correct product stays inside the
    random walk's lambda sqrt(K + 2) u |A||B| (tolerances.toml [statistical]), which is
    lambda / sqrt(K + 2) of the rigorous gamma_{K+2} |A||B| (0.33 at K = 784; the oracle's
    own float64 error, in both the error and the bound, keeps the ratio for float64)."""
    K = 784
    A, B, _ = operands(rng, 40, 40, K, dtype)
    v = compare_gemm(one_by_one(A, B), A, B)
    assert v.passed, v
    assert v.rigorous_ratio <= tolerance("statistical.lambda") / math.sqrt(K + 2), v


# --- GEMM: bugs fail by a large factor ---------------------------------------------------------

def _teeth(v):
    assert not v.passed, v
    assert v.ratio >= tolerance("teeth.min_bug_ratio"), v


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize(("M", "N", "K"), [(13, 11, 37), (31, 3, 40)])
def test_single_corrupted_element_fails(rng, dtype, M, N, K):
    A, B, _ = operands(rng, M, N, K, dtype)
    C = A @ B
    C[M // 2, N - 1] += 1e-3 * np.abs(C).max()  # one element off by 1e-3 of the maximum
    v = compare_gemm(C, A, B)
    _teeth(v)
    assert v.n_failed == 1 and v.index == (M // 2, N - 1)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize(("M", "N", "K"), [(13, 11, 37), (10, 7, 64)])
def test_dropped_last_k_term_fails(rng, dtype, M, N, K):
    A, B, _ = operands(rng, M, N, K, dtype)
    _teeth(compare_gemm(one_by_one(A, B, k_stop=K - 1), A, B))


def test_float32_accumulation_in_a_float64_product_fails(rng):
    A, B, _ = operands(rng, 13, 11, 257, np.float64)
    C = one_by_one(A, B, dtype=np.float32).astype(np.float64)
    _teeth(compare_gemm(C, A, B))


# MAGMA's testers pass a product when ||C - C_ref||_F / (||A||_F ||B||_F) < 30 eps.
MAGMA_NORMWISE_THRESHOLD_IN_EPS = 30


def test_norm_wise_check_would_miss_what_the_elementwise_bound_catches(rng):
    """SPEC section 6: a cell off by 1e-3 of the maximum hides in a norm-wise test."""
    A, B, _ = operands(rng, 200, 200, 64, np.float32)
    C = A @ B
    i, j = np.unravel_index(np.argmin(np.abs(C)), C.shape)
    C[i, j] += 1e-3 * np.abs(C).max()
    diff = np.linalg.norm(C - A.astype(float) @ B.astype(float))
    in_eps = diff / (np.linalg.norm(A) * np.linalg.norm(B)) / np.finfo(np.float32).eps
    assert in_eps < MAGMA_NORMWISE_THRESHOLD_IN_EPS  # the norm-wise test lets it through
    _teeth(compare_gemm(C, A, B))


def test_gemm_checks_shapes_and_beta():
    A, B = np.ones((3, 4)), np.ones((4, 5))
    with pytest.raises(ValueError, match=r"M x K and K x N, got \(3, 4\) and \(3, 5\)"):
        compare_gemm(np.ones((3, 5)), A, np.ones((3, 5)))
    with pytest.raises(ValueError, match=r"shape \(5, 3\), expected \(3, 5\)"):
        compare_gemm(np.ones((5, 3)), A, B)
    with pytest.raises(ValueError, match="needs C0"):
        compare_gemm(np.ones((3, 5)), A, B, None, 1.0, 2.0)


def test_nan_in_a_gemm_result_fails(rng):
    A, B, _ = operands(rng, 5, 6, 7, np.float64)
    C = A @ B
    C[4, 5] = np.nan
    v = compare_gemm(C, A, B)
    assert not v.passed and v.index == (4, 5) and v.ratio == np.inf


# --- exact mode ------------------------------------------------------------------------------

def integer_operands(rng, M, N, K, dtype, bound=8):
    def draw(shape):
        return rng.integers(-bound, bound + 1, size=shape).astype(dtype)

    return draw((M, K)), draw((K, N)), draw((M, N))


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize(("M", "N", "K"), SHAPES)
def test_exact_mode_accepts_any_order_on_integers(rng, dtype, M, N, K):
    A, B, C0 = integer_operands(rng, M, N, K, dtype)
    for C in (2 * (A @ B) + 5 * C0, 2 * one_by_one(A, B, reverse=True) + 5 * C0):
        assert_passes(compare_gemm_exact(C.astype(dtype), A, B, C0, 2.0, 5.0))


@pytest.mark.parametrize("dtype", FLOATS)
def test_exact_mode_flags_a_one_ulp_difference(rng, dtype):
    A, B, _ = integer_operands(rng, 9, 7, 33, dtype)
    C = (A @ B).astype(dtype)
    C[3, 3] = np.nextafter(C[3, 3], dtype(np.inf))
    v = compare_gemm_exact(C, A, B)
    assert not v.passed and v.index == (3, 3) and v.ratio == np.inf


def test_exact_mode_refuses_inputs_that_cannot_be_exact(rng):
    A, B, _ = integer_operands(rng, 3, 3, 3, np.float32)
    with pytest.raises(ValueError, match="integer values; A"):
        compare_gemm_exact(A @ B, A + 0.5, B)
    big = np.full((2, 2), np.sqrt(exact_limit(np.float32)), dtype=np.float32)
    with pytest.raises(ValueError, match="< 2\\^24"):
        compare_gemm_exact(big @ big, big, big)


# --- row sums ----------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", FLOATS)
def test_rowsum_any_order_passes_and_a_dropped_column_fails(rng, dtype):
    x = rng.standard_normal((17, 301)).astype(dtype)
    assert_passes(compare_rowsum(x.sum(axis=1), x))
    assert_passes(compare_rowsum(np.cumsum(x[:, ::-1], axis=1, dtype=dtype)[:, -1], x))
    assert_passes(compare_rowsum(x.sum(axis=1, keepdims=True), x))
    _teeth(compare_rowsum(x[:, :-1].sum(axis=1), x))


# --- ulps --------------------------------------------------------------------------------------

def test_compare_ulps_rounds_the_reference_to_the_tested_dtype():
    expected = np.array([1.0 + 2.0 ** -30])  # not a float32
    assert_passes(compare_ulps(np.array([1.0], np.float32), expected, max_ulps=0))
    v = compare_ulps(np.array([1.0 + 2.0 ** -22], np.float32), expected, max_ulps=1)
    assert not v.passed and v.error == 2
