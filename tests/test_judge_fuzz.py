"""No verdict fails open: a fuzz of the verdict functions (hypothesis) over extreme magnitudes,
subnormals, signed zeros, NaN and infinities in every operand and result. Each call either
refuses ("cannot judge": CannotJudge, or a ValueError naming the input) or returns a verdict,
and a verdict passes only when every input and result is finite, every bound is finite, and
the result lies within its rigorous bound of the exact value (computed here in rational
arithmetic for GEMMs and row sums, independently of the judge; the oracle's own error, which
each bound includes, counts twice)."""

import os
from fractions import Fraction

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from oraclenet.common.params import Params
from oraclenet.judge import bounds, elementwise
from oraclenet.judge.roundoff import (
    compare_bounded,
    compare_gemm,
    compare_gemm_chain,
    compare_gemm_exact,
    compare_rowsum,
    compare_ulps,
)
from oraclenet.judge.tolerances import tolerance
from oraclenet.judge.verdict import CannotJudge

SPECIAL = [0.0, -0.0, 5e-324, -5e-324, 2.2250738585072014e-308, 1e-300, 1.0, -1.0, 0.5, 3.0,
           1e150, 1e300, -1e300, 1.7976931348623157e308, -1.7976931348623157e308,
           float("inf"), float("-inf"), float("nan"), 1e-45, 3.4028235e38, 1e-30]
ELEMENT = st.one_of(st.sampled_from(SPECIAL), st.floats(allow_nan=True, allow_infinity=True),
                    st.floats(-4, 4))
SCALAR = st.one_of(st.sampled_from(SPECIAL), st.floats(-10, 10))
DTYPES = st.sampled_from([np.float32, np.float64])
# Examples per verdict function: 300 in every test run, more in `nox -s fuzz`.
FUZZ = settings(max_examples=int(os.environ.get("ORACLENET_JUDGE_FUZZ_EXAMPLES", "300")))


@st.composite
def gemm_calls(draw):
    M, N, K = (draw(st.integers(1, 3)) for _ in range(3))
    dtype = draw(DTYPES)
    with np.errstate(all="ignore"):
        A = draw(hnp.arrays(np.float64, (M, K), elements=ELEMENT)).astype(dtype)
        B = draw(hnp.arrays(np.float64, (K, N), elements=ELEMENT)).astype(dtype)
        C0 = draw(hnp.arrays(np.float64, (M, N), elements=ELEMENT)).astype(dtype)
        alpha, beta = draw(SCALAR), draw(SCALAR)
        how = draw(st.sampled_from(["computed", "perturbed", "arbitrary"]))
        if how == "arbitrary":
            C = draw(hnp.arrays(np.float64, (M, N), elements=ELEMENT)).astype(dtype)
        else:
            C = (alpha * (A.astype(np.float64) @ B) + beta * C0).astype(dtype)
            if how == "perturbed":
                C = (C * (1 + draw(st.sampled_from([1e-3, 1e-7, 1e-15, -1e-16])))).astype(dtype)
    return A, B, C0, alpha, beta, C


def exact_gemm(A, B, C0, alpha, beta):
    M, K = A.shape
    N = B.shape[1]
    F = Fraction
    return [[F(alpha) * sum(F(float(A[i, k])) * F(float(B[k, j])) for k in range(K))
             + F(beta) * F(float(C0[i, j])) for j in range(N)] for i in range(M)]


def derived_gemm_bound(A, B, C0, alpha, beta, dtype) -> list[list[Fraction]]:
    """The rigorous bound of judge/roundoff.py's docstring, in exact rationals and without the
    judge's code: factor ((gamma_{K+2}(u) + gamma_{K+2}(u_64)) (|alpha| |A||B| + |beta||C0|)
    + eta (K max(1, |alpha|) + sum_k |a_ik| + sum_k |b_kj| + 1)), eta the smallest subnormals
    of the dtype and of float64 (gradual underflow, in the result and in the oracle)."""
    F = Fraction
    K = A.shape[1]

    def gamma_n(n: int, u: Fraction) -> Fraction:
        return n * u / (1 - n * u)

    def mag(x) -> Fraction:
        return abs(F(float(x)))

    u, u64 = F(float(np.finfo(dtype).eps)) / 2, F(float(np.finfo(np.float64).eps)) / 2
    eta = mag(np.finfo(dtype).smallest_subnormal) + mag(np.finfo(np.float64).smallest_subnormal)
    g = gamma_n(K + 2, u) + gamma_n(K + 2, u64)
    al, be, factor = mag(alpha), mag(beta), F(tolerance("gemm.factor"))
    return [[factor * (g * (al * sum(mag(A[i, k]) * mag(B[k, j]) for k in range(K))
                            + be * mag(C0[i, j]))
                       + eta * (K * max(1, al) + sum(mag(A[i, k]) for k in range(K))
                                + sum(mag(B[k, j]) for k in range(K)) + 1))
             for j in range(B.shape[1])] for i in range(A.shape[0])]


def finite(*values) -> bool:
    return all(np.all(np.isfinite(np.asarray(v, dtype=np.float64))) for v in values)


@FUZZ
@given(gemm_calls())
def test_a_gemm_verdict_passes_only_finite_results_within_the_bound_of_the_exact_value(call):
    A, B, C0, alpha, beta, C = call
    try:
        v = compare_gemm(C, A, B, C0, alpha, beta)
    except CannotJudge:
        return
    if v.passed:  # C0 is not read when beta is 0 (BLAS): it may be anything then
        assert finite(A, B, alpha, beta, C) and (beta == 0 or finite(C0)), v
        C0 = C0 if beta != 0 else np.zeros_like(C0)
        assert finite(v.allowed) and v.ratio <= 1
        # |C - exact| <= |C - oracle| + |oracle - exact|: the bound, and the oracle's own
        # error, which the bound includes; the bound as derived, worked out here
        bound = derived_gemm_bound(A, B, C0, alpha, beta, C.dtype)
        exact = exact_gemm(A, B, C0, alpha, beta)
        assert all(abs(Fraction(float(C[i, j])) - exact[i][j]) <= 2 * bound[i][j]
                   for i in range(C.shape[0]) for j in range(C.shape[1])), v


@FUZZ
@given(gemm_calls(), st.integers(1, 3))
def test_a_chain_verdict_passes_only_finite_results(call, calls):
    A, B, C0, alpha, beta, C = call
    chain = [C0]
    with np.errstate(all="ignore"):
        for _ in range(calls):
            chain.append((alpha * (A.astype(np.float64) @ B) + beta * chain[-1]).astype(C.dtype))
    chain[-1] = C if calls == 1 else chain[-1]
    try:
        v = compare_gemm_chain(chain, A, B, alpha, beta)
    except CannotJudge:
        return
    if v.passed:
        assert finite(A, B, alpha, beta, *chain[1:]) and (beta == 0 or finite(chain[0])), v


@FUZZ
@given(gemm_calls())
def test_an_exact_verdict_passes_only_the_exact_value(call):
    A, B, C0, alpha, beta, C = call
    try:
        v = compare_gemm_exact(C, A, B, C0, alpha, beta)
    except (CannotJudge, ValueError):  # refused: not integers, or too large to be exact
        return
    if v.passed:
        exact = exact_gemm(A, B, C0, alpha, beta)
        assert all(Fraction(float(C[i, j])) == exact[i][j] for i in range(C.shape[0])
                   for j in range(C.shape[1])), v


@FUZZ
@given(DTYPES, st.integers(1, 3), st.integers(1, 5), st.data())
def test_a_rowsum_verdict_passes_only_finite_sums_within_the_bound(dtype, M, n, data):
    with np.errstate(all="ignore"):
        x = data.draw(hnp.arrays(np.float64, (M, n), elements=ELEMENT)).astype(dtype)
        how = data.draw(st.sampled_from(["computed", "arbitrary"]))
        s = (x.astype(np.float64).sum(axis=1) if how == "computed" else
             data.draw(hnp.arrays(np.float64, (M,), elements=ELEMENT))).astype(dtype)
    try:
        v = compare_rowsum(s, x)
    except CannotJudge:
        return
    if v.passed:
        assert finite(x, s), v
        # gamma_n |x| 1 of the sums and twice the oracle's own, worked out here in rationals
        u, u64 = (Fraction(float(np.finfo(t).eps)) / 2 for t in (dtype, np.float64))
        g = n * u / (1 - n * u) + 2 * n * u64 / (1 - n * u64)
        eta = Fraction(float(np.finfo(dtype).smallest_subnormal))
        exact = [sum(Fraction(float(t)) for t in row) for row in x]
        allowed = [g * sum(abs(Fraction(float(t))) for t in row) + n * eta for row in x]
        assert all(abs(Fraction(float(s[i])) - exact[i]) <= allowed[i] for i in range(M)), v


@FUZZ
@given(DTYPES, st.integers(1, 6), st.data())
def test_an_ulp_or_bounded_verdict_passes_only_finite_values(dtype, n, data):
    with np.errstate(all="ignore"):
        actual = data.draw(hnp.arrays(np.float64, (n,), elements=ELEMENT)).astype(dtype)
        expected = data.draw(hnp.arrays(np.float64, (n,), elements=ELEMENT))
        allowed = data.draw(hnp.arrays(np.float64, (n,), elements=ELEMENT))
    try:
        v = compare_ulps(actual, expected, 4)
    except CannotJudge:
        v = None
    if v is not None and v.passed:
        rounded = expected.astype(dtype)
        assert finite(actual, rounded), v
        apart = np.abs(actual.astype(np.float64) - rounded)
        with np.errstate(over="ignore"):  # the spacing of the largest float is inf
            ulp = np.spacing(np.maximum(np.abs(actual), np.abs(rounded)))
        assert np.all(apart <= 4 * ulp), v
    try:
        v = compare_bounded("x", actual, expected, allowed, allowed)
    except CannotJudge:
        return
    if v.passed:
        assert finite(actual, expected, allowed), v
        assert np.all(np.abs(actual.astype(np.float64) - expected) <= allowed), v


@FUZZ
@given(DTYPES, st.data())
def test_the_elementwise_verdicts_pass_only_finite_values(dtype, data):
    with np.errstate(all="ignore"):
        z = data.draw(hnp.arrays(np.float64, (10, 2), elements=ELEMENT)).astype(dtype)
        out = data.draw(hnp.arrays(np.float64, (10, 2), elements=ELEMENT)).astype(dtype)
    for judge in (lambda: elementwise.compare_sigmoid(out, z),
                  lambda: elementwise.compare_softmax(out, z)):
        try:
            v = judge()
        except CannotJudge:
            continue
        if v.passed:
            assert finite(z, out), v


def network(H: int, N: int, scale: float, seed: int):
    rng = np.random.default_rng(seed)
    p = Params(rng.standard_normal((H, 784)) * scale, rng.standard_normal((H, 1)),
               rng.standard_normal((10, H)) * scale, rng.standard_normal((10, 1)))
    X = rng.uniform(0, 1, (784, N))
    Y = np.eye(10)[:, rng.integers(0, 10, N)]
    return p, X, Y


@FUZZ
@given(st.sampled_from([1e-300, 1e-3, 1.0, 1e3, 1e150, 1e300]),
       st.sampled_from([0.0, 1e-4, 1.0, 1e300, 1.7976931348623157e308]),
       st.sampled_from([1e-300, 0.5, 10.0, 1e300, 1.7976931348623157e308]),
       st.sampled_from(["oracle", "nan", "inf", "huge", "zero", "tiny"]), DTYPES,
       st.integers(0, 3))
def test_a_step_gradient_or_loss_verdict_passes_only_finite_values(scale, reg, lr, result,
                                                                   dtype, seed):
    p, X, Y = network(2, 3, scale, seed)
    with np.errstate(all="ignore"):
        from oraclenet.reference import network as oracle

        grad = oracle.backward(p, X, Y, reg)
        after = Params(*(a - lr * g for a, g in zip(p.blocks().values(),
                                                    grad.blocks().values(), strict=True)))
        J = oracle.loss(p, X, Y, reg)
        value = {"oracle": 1.0, "nan": np.nan, "inf": np.inf, "huge": 1e300, "zero": 0.0,
                 "tiny": 5e-324}[result]
        if result != "oracle":
            grad.W1[0, 0] = after.b2[0, 0] = J = value
        grad, after = grad.astype(dtype), after.astype(dtype)
    for name, judge in (("gradient", lambda: bounds.compare_gradient(grad, p, X, Y, reg)),
                        ("step", lambda: bounds.compare_step(after, p, X, Y, reg, lr)),
                        ("loss", lambda: {"J": bounds.compare_loss(J, p, X, Y, reg, dtype)})):
        try:
            verdicts = judge()
        except CannotJudge:
            continue
        for v in verdicts.values():
            if v.passed:
                assert np.isfinite(v.allowed) and np.isfinite(v.expected), (name, v)
                assert np.isfinite(v.actual) and v.error <= v.allowed, (name, v)
        if all(v.passed for v in verdicts.values()):
            assert finite(p.W1, p.W2, reg, lr), name
            assert finite(*(grad.blocks().values() if name == "gradient" else
                            after.blocks().values() if name == "step" else [J])), name
