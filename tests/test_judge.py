"""The sharper judge (judge/roundoff.py, judge/precision.py): the statistical tier beside the
rigorous one, safe where its model breaks, and the effective precision of every GEMM result,
which names TF32, bfloat16 and float16 downgrades that the bounds alone let through."""

import math
from fractions import Fraction

import numpy as np
import pytest

from oraclenet.common.params import Params
from oraclenet.corpus import gemm as corpus
from oraclenet.corpus import gradient as network_corpus
from oraclenet.corpus.cases import network_problem
from oraclenet.judge.bounds import compare_gradient, compare_step
from oraclenet.judge.diagnose import diagnose_gemm
from oraclenet.judge.precision import FORMATS, MODEL_BITS, round_significand
from oraclenet.judge.roundoff import (
    assert_passes,
    compare_gemm,
    compare_rowsum,
    gamma_tilde,
    gemm_bound,
    unit_roundoff,
)
from oraclenet.judge.tolerances import tolerance

# The issue's table: the course's shape, the network's W2 a1, and a long K.
TABLE_SHAPES = [(800, 1000, 784), (10, 800, 1000), (256, 256, 4096)]
STAND_INS = {"TF32 inputs": ("tf32", 11), "bfloat16 inputs": ("bfloat16", 8),
             "float16 accumulation": ("float16-accumulation", 11)}


def operands(M, N, K, kind="normal", seed=0, dtype=np.float32):
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((M, K))
    if kind == "pixels":  # W1-like weights times MNIST-like images: sparse, 256 levels
        A /= np.sqrt(K)
        B = rng.integers(0, 256, (K, N)) * (rng.random((K, N)) < 0.2) / 255
    else:
        B = rng.standard_normal((K, N))
    return A.astype(dtype), B.astype(dtype), np.zeros((M, N), dtype)


def judged(gemm, A, B, C0, alpha=1.0, beta=0.0, precision=None):
    return compare_gemm(gemm(A, B, C0, alpha, beta), A, B, C0, alpha, beta,
                        precision=precision)


def test_lambda_meets_its_derivation():
    """A run judges at most 1e12 elements; the union bound must stay below 1e-6."""
    stat_lambda = tolerance("statistical.lambda")
    assert 1e12 * 2 * math.exp(-stat_lambda ** 2 / 2) <= 1e-6


def test_the_statistical_bound_is_the_random_walk_and_never_above_the_rigorous_one():
    """Against the derivation's values worked out here in exact rationals, not the module's
    gamma: lambda sqrt(n) u + (n u)^2 / (1 - n u) (the remainder gamma_n - n u), capped at
    gamma_n = n u / (1 - n u) below n = lambda^2."""
    u, stat_lambda = Fraction(1, 2 ** 24), Fraction(tolerance("statistical.lambda"))
    n = 10_000  # sqrt(n) = 100 exactly
    expected = stat_lambda * 100 * u + (n * u) ** 2 / (1 - n * u)
    # two float64 routes to one quantity: within [identities] rel_u of each other
    rel = tolerance("identities.rel_u") * unit_roundoff(np.float64)
    assert math.isclose(gamma_tilde(n, np.float32), float(expected), rel_tol=rel)
    assert gamma_tilde(n, np.float32) < float(n * u) / 10
    # n < lambda^2: gamma_20 itself, one division of exact operands, correctly rounded
    assert gamma_tilde(20, np.float32) == float(20 * u / (1 - 20 * u))


@pytest.mark.parametrize("shape", TABLE_SHAPES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("stand_in", sorted(STAND_INS))
def test_the_precision_stand_ins_fail_at_the_issues_three_shapes(stand_in, shape):
    """Each fails, named, with its bits within one, where the rigorous bound alone passed
    TF32 at 10x800x1000 and 256x256x4096 and bfloat16 at 256x256x4096."""
    model, bits = STAND_INS[stand_in]
    v = judged(corpus.PRECISION_BUGS[stand_in], *operands(*shape))
    assert not v.passed and "precision" in v.failed_tests(), v
    assert v.precision_model == model, v
    assert abs(v.effective_bits - bits) <= tolerance("precision.bits_within"), v


SMALL = [(17, 33, 65), (63, 65, 127)]  # ragged around the usual tiles
COURSE = [(800, 10, 1000)]


@pytest.mark.parametrize("shape", COURSE + SMALL, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("kind", ["normal", "pixels"])
def test_the_effective_bits_name_each_precision(shape, kind):
    """float32 (24 bits), TF32 inputs (11), bfloat16 inputs (8), float16 accumulation (11),
    and float32 accumulation inside a float64 kernel (24), each named, within one bit."""
    A, B, C0 = operands(*shape, kind=kind, seed=3)
    A64, B64, C064 = (x.astype(np.float64) for x in (A, B, C0))
    cases = [(corpus.honest("BLAS"), (A, B, C0), "float32", 24),
             (corpus.honest("one by one"), (A, B, C0), "float32", 24),
             *((corpus.PRECISION_BUGS[name], (A, B, C0), model, bits)
               for name, (model, bits) in STAND_INS.items()),
             (corpus.float32_accumulation, (A64, B64, C064), "float32", 24)]
    for gemm, args, model, bits in cases:
        v = judged(gemm, *args)
        assert v.precision_model == model, (model, v)
        assert abs(v.effective_bits - bits) <= tolerance("precision.bits_within"), (model, v)


def on_tf32(p, X):
    """p and X as a float32 trainer on tensor cores reads them: rounded to TF32."""
    tf32 = lambda x: round_significand(x, FORMATS["tf32"].drop).astype(np.float64)  # noqa: E731
    return Params(*map(tf32, p.blocks().values())), tf32(X)


IMPLEMENTATIONS = {  # model -> (gradient, step), each (p, X, Y, reg[, lr]) -> (result, J)
    "float32": (network_corpus.backward_float32, network_corpus.step_float32),
    "float64": (lambda p, X, Y, reg: (network_corpus.backward_by_column_parts(
        p, X, Y, reg, 2), None), network_corpus.step_by_parts(2, hidden=False)),
    "unexplained": (lambda p, X, Y, reg: network_corpus.backward_float32(*on_tf32(p, X), Y,
                                                                         reg),
                    lambda p, X, Y, reg, lr: network_corpus.step_float32(*on_tf32(p, X), Y,
                                                                         reg, lr)),
}


@pytest.mark.parametrize("H, N", [(16, 40), (64, 100)])
@pytest.mark.parametrize("model", sorted(IMPLEMENTATIONS))
def test_gradient_and_step_verdicts_report_their_effective_bits(model, H, N):
    """float32 gradients and steps show 24 bits and float64 ones 53, each named; float32 on
    TF32 operands shows fewer bits than float32 can and matches no model (a whole step cannot
    tell TF32 inputs from float16 sums). The bits are reported, not tested (step_precision)."""
    p, X, Y = network_problem(H, N, "pixels", 2)
    reg, lr = 1e-4, 0.5
    gradient, step = IMPLEMENTATIONS[model]
    verdicts = [*compare_gradient(gradient(p, X, Y, reg)[0], p, X, Y, reg).values(),
                *compare_step(step(p, X, Y, reg, lr)[0], p, X, Y, reg, lr).values()]
    for v in verdicts:
        assert v.precision is not None and v.precision.ratio is None, v
        assert v.precision_model == model, v
        if model == "unexplained":
            assert v.effective_bits < MODEL_BITS["float32"][0], v
        else:
            assert abs(v.effective_bits - FORMATS[model].bits) <= tolerance(
                "precision.bits_within"), v


def test_a_declared_precision_is_judged_against_its_own_bounds():
    """A kernel meant to run on TF32 passes as TF32; bfloat16 is worse than declared."""
    A, B, C0 = operands(64, 48, 300, seed=4)
    tf32 = judged(corpus.PRECISION_BUGS["TF32 inputs"], A, B, C0, precision="tf32")
    assert_passes(tf32)
    assert tf32.precision.declared == "tf32" and tf32.precision_model == "tf32"
    bf16 = judged(corpus.PRECISION_BUGS["bfloat16 inputs"], A, B, C0, precision="tf32")
    assert not bf16.passed and bf16.precision_model == "bfloat16"
    with pytest.raises(ValueError, match="precision must be one of"):
        judged(corpus.honest("BLAS"), A, B, C0, precision="float8")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("order", sorted(corpus.orders()))
def test_every_honest_order_passes_every_test(order, dtype):
    for shape, (alpha, beta) in (((31, 17, 200), (1.0, 0.0)), ((9, 40, 65), (2.0, 5.0))):
        A, B, _ = operands(*shape, seed=5, dtype=dtype)
        C0 = np.random.default_rng(6).standard_normal(shape[:2]).astype(dtype)
        v = judged(corpus.honest(order), A, B, C0, alpha, beta)
        assert_passes(v)
        assert v.statistical_ratio <= 1 and v.precision.ratio <= 1


def rows_of(value, M, K, first=None):
    A = np.full((M, K), np.float32(value))
    if first is not None:
        A[:, 0] = first
    return A


@pytest.mark.parametrize("case", ["absorbed", "nearly absorbed"])
def test_terms_a_large_partial_sum_absorbs_widen_the_statistical_bound(case):
    """1e8 followed by 4,095 terms of 1 (or 1.4) in float32: every term is lost or rounded
    by the same amount, a systematic error the random-walk model does not cover. The plain
    statistical bound would cry wolf; the widened one does not."""
    A = rows_of(1.0 if case == "absorbed" else 1.4, 6, 4096, first=1e8)
    B = np.ones((4096, 5), np.float32)
    C0 = np.zeros((6, 5), np.float32)
    C = corpus.honest("one by one")(A, B, C0, 1.0, 0.0)
    exact = A.astype(np.float64) @ B.astype(np.float64)
    plain = np.abs(C - exact) / gemm_bound(A, B, C0, 1.0, 0.0, np.float32, statistical=True)
    assert plain.max() > 1  # without the widening: a false alarm
    assert_passes(compare_gemm(C, A, B, C0))


@pytest.mark.parametrize("case", ["constant", "two-valued", "exactly representable"])
def test_repeated_and_exact_terms_stay_safe(case):
    rng = np.random.default_rng(7)
    A, B = {"constant": (rows_of(0.1, 8, 4096), np.full((4096, 9), np.float32(0.3))),
            "two-valued": (rng.integers(0, 2, (8, 4096)).astype(np.float32),
                           rng.integers(0, 2, (4096, 9)).astype(np.float32) * np.float32(0.1)),
            "exactly representable": (rng.integers(-3, 4, (8, 4096)).astype(np.float32),
                                      rng.integers(-3, 4, (4096, 9)).astype(np.float32))}[case]
    C0 = np.zeros((8, 9), np.float32)
    for order in ("one by one", "reversed", "BLAS"):
        v = judged(corpus.honest(order), A, B, C0)
        assert_passes(v)
        assert v.precision_model == "float32", v


def test_values_near_underflow_and_heavy_cancellation_pass():
    rng = np.random.default_rng(8)
    tiny = (rng.standard_normal((7, 500)) * 1e-20).astype(np.float32)
    half = rng.standard_normal((7, 250)).astype(np.float32)
    for A, B in ((tiny, (rng.standard_normal((500, 6)) * 1e-20).astype(np.float32)),
                 (np.hstack([half, -half]), np.ones((500, 6), np.float32))):
        for order in ("one by one", "pairwise", "BLAS"):
            assert_passes(judged(corpus.honest(order), A, B, np.zeros((7, 6), np.float32)))


def test_a_verdict_says_which_test_failed_and_what_the_result_behaves_like():
    A, B, C0 = operands(10, 800, 1000, seed=9)
    C = corpus.PRECISION_BUGS["TF32 inputs"](A, B, C0, 1.0, 0.0)
    v = diagnose_gemm(compare_gemm(C, A, B, C0), C, A, B, C0, 1.0, 0.0)
    text = str(v)
    assert v.rigorous_ratio <= 1 < v.ratio  # the worst case cannot see it
    assert "errors larger than the declared precision's (precision test)" in text
    assert "\n  cause: precision downgrade: every error within the bounds of tf32" in text
    assert "behaves like TF32 inputs, 11.0 significand bits, declared float32" in text


def test_row_sums_have_both_tiers_and_are_safe_on_constant_rows():
    rng = np.random.default_rng(10)
    x = rng.standard_normal((6, 5000)).astype(np.float32)
    good = compare_rowsum(np.cumsum(x, axis=1, dtype=np.float32)[:, -1], x)
    assert_passes(good)
    assert good.statistical_ratio > good.rigorous_ratio  # the sharper tier
    constant = np.full((3, 100_000), np.float32(0.1))
    assert_passes(compare_rowsum(np.cumsum(constant, axis=1, dtype=np.float32)[:, -1],
                                 constant))
    wrong = np.cumsum(x, axis=1, dtype=np.float32)[:, -2]  # the last term left out
    assert not compare_rowsum(wrong, x).passed
