"""Every bound is tight: the worst honest result of a fixed, seeded set reaches a stated
fraction of it (tolerances.toml [tightness]), so a judge that grows looser - a bound computed
with the wrong dtype's unit roundoff, a factor lost, a tolerance raised - fails here even
though no correct result could ever notice it."""

import numpy as np
import pytest

from oraclenet.corpus import cases as C
from oraclenet.corpus import elementwise as EW
from oraclenet.corpus import forms as F
from oraclenet.corpus import gemm as G
from oraclenet.corpus import gradient as D
from oraclenet.judge import bounds, gradcheck, precision, roundoff
from oraclenet.judge.roundoff import compare_gemm, compare_rowsum
from oraclenet.judge.tolerances import tolerance

SEEDS = range(20)


def gemm_worst(dtype, tier: str) -> float:
    """One product (float32), or three in two orders (float64): one or two roundings against
    gamma_3 or gamma_5, the worst of 20 draws. The statistical tier:
    1,000 equal terms one by one in float32, a systematic error the random walk barely
    covers."""
    if tier == "statistical":
        A = np.full((8, 1000), dtype(0.1))
        B = np.full((1000, 9), dtype(0.3))
        C0 = np.zeros((8, 9), dtype)
        return compare_gemm(G.honest("one by one")(A, B, C0, 1.0, 0.0), A, B,
                            C0).statistical_ratio
    # float64 is judged against numpy's own float64 product, whose order its BLAS picks:
    # summed one by one, or reversed, or with FMAs, it differs from one of these two orders.
    shape, orders = ((1, 1, 1), ["reversed"]) if dtype == np.float32 else (
        (1, 1, 3), ["reversed", "one by one"])
    worst = 0.0
    for seed in SEEDS:
        A, B, C0, alpha, beta = C.gemm_problem("uniform", shape, dtype, seed)
        for order in orders:
            v = compare_gemm(G.honest(order)(A, B, C0, alpha, beta), A, B, C0, alpha, beta)
            worst = max(worst, v.rigorous_ratio)
    return worst


def rowsum_worst(dtype, tier: str) -> float:
    """Three terms in the reverse order (rigorous); 100,000 equal terms one by one
    (statistical)."""
    if tier == "statistical":
        x = np.full((3, 100_000), dtype(0.1))
        return compare_rowsum(np.cumsum(x, axis=1, dtype=dtype)[:, -1], x).statistical_ratio
    worst = 0.0
    for seed in SEEDS:
        x = C.matrix("positive", (64, 3), np.random.default_rng(seed), dtype)
        s = np.cumsum(x[:, ::-1], axis=1, dtype=dtype)[:, -1]
        worst = max(worst, compare_rowsum(s, x).rigorous_ratio)
    return worst


def precision_worst() -> float:
    """A product summed in exactly the emulated one-by-one order: its rms is the allowed rms
    before the slack."""
    A, B, C0, alpha, beta = C.gemm_problem("normal", (31, 33, 63), np.float32, 1)
    v = compare_gemm(G.honest("one by one")(A, B, C0, alpha, beta), A, B, C0, alpha, beta)
    return v.precision.ratio


def step_worst() -> float:
    """A float32 step with the weight decay factored, W (1 - lr lambda) - lr D: a weight whose
    data gradient is zero (a pixel dark in every image) carries its path's three roundings,
    the most the family has."""
    p, X, Y = C.network_problem(16, 40, "pixels", 56)
    _, updated, _ = F.run(F.FORMS["weight decay factored"], p, X, Y, 1e-2, 1e-3, np.float32)
    return max(v.rigorous_ratio for v in bounds.compare_step(updated, p, X, Y, 1e-2,
                                                             1e-3).values())


def gradient_worst() -> float:
    p, X, Y = C.network_problem(4, 7, "pixels", 0)
    grad = D.backward_float32(p, X, Y, C.REG)[0]
    return max(v.rigorous_ratio for v in bounds.compare_gradient(grad, p, X, Y,
                                                                 C.REG).values())


def elementwise_worst(op: str) -> float:
    judge, honest, _ = EW.OPS[op]
    worst = 0.0
    for compute in honest.values():
        for kind in ("normal", "extreme"):
            for seed in range(3):
                x = EW.inputs(op, kind, np.dtype(np.float32), seed)
                worst = max(worst, judge(compute(x, np.dtype(np.float32)), x).rigorous_ratio)
    return worst


def gradcheck_worst() -> float:
    """The best relative error of a correct gradient's directional derivatives, against the
    check's rtol."""
    report = gradcheck.run(gradcheck.Settings(hidden=3, batch=4, max_entries=50))
    return max(w.best_error for w in report.sweeps) / tolerance("gradcheck.rtol")


MEASURES = {  # tolerances.toml key -> the worst honest ratio of its bound
    "tightness.gemm_rigorous_float32": lambda: gemm_worst(np.float32, "rigorous"),
    "tightness.gemm_rigorous_float64": lambda: gemm_worst(np.float64, "rigorous"),
    "tightness.gemm_statistical": lambda: gemm_worst(np.float32, "statistical"),
    "tightness.rowsum_rigorous": lambda: rowsum_worst(np.float64, "rigorous"),
    "tightness.rowsum_statistical": lambda: rowsum_worst(np.float32, "statistical"),
    "tightness.precision": precision_worst,
    "tightness.step": step_worst,
    "tightness.gradient": gradient_worst,
    "tightness.sigmoid": lambda: elementwise_worst("sigmoid"),
    "tightness.softmax": lambda: elementwise_worst("softmax"),
    "tightness.output_delta": lambda: elementwise_worst("output delta"),
    "tightness.sigmoid_delta": lambda: elementwise_worst("sigmoid delta"),
    "tightness.update": lambda: elementwise_worst("update"),
    "tightness.gradcheck": gradcheck_worst,
}


@pytest.mark.parametrize("bound", sorted(MEASURES))
def test_the_worst_honest_result_reaches_its_stated_fraction_of_every_bound(bound):
    worst = MEASURES[bound]()
    assert worst >= tolerance(bound), f"{bound}: {worst:.3g}"
    assert worst <= 1  # and it is honest


def _loosen_unit_roundoff(monkeypatch):
    """Every bound computed with float32's unit roundoff, whatever the dtype."""
    monkeypatch.setattr(roundoff, "unit_roundoff", lambda dtype: 2.0 ** -24)
    monkeypatch.setattr(bounds, "unit_roundoff", lambda dtype: 2.0 ** -24)
    monkeypatch.setattr(roundoff, "gamma", lambda n, dtype: roundoff.gamma_u(n, 2.0 ** -24))
    monkeypatch.setattr(bounds, "gamma", lambda n, dtype: roundoff.gamma_u(n, 2.0 ** -24))
    monkeypatch.setitem(precision.FORMATS, "float64", precision.FORMATS["float32"])


def _lose_a_factor_in_the_step(monkeypatch):
    """The step's allowed error ten times too large (a factor lr forgotten, say)."""
    error = bounds.step_error

    def loose(*args, **kw):
        found = error(*args, **kw)
        return bounds.StepError(type(found.grad)(*(10 * a for a in found.grad.blocks().values())),
                                10 * found.loss, found.magnitude)

    monkeypatch.setattr(bounds, "step_error", loose)


def _loosen_lambda(monkeypatch):
    """The statistical tier's lambda raised tenfold."""
    real, stat_lambda = roundoff.gamma_tilde, 10 * tolerance("statistical.lambda")
    monkeypatch.setattr(roundoff, "gamma_tilde",
                        lambda n, dtype, _=None: real(n, dtype, stat_lambda))


def _raise_the_slack(monkeypatch):
    real = precision.tolerance
    monkeypatch.setattr(precision, "tolerance", lambda key: 10 * real(key)
                        if key == "precision.slack" else real(key))


LOOSENINGS = {
    "float64 bounds with float32's unit roundoff": (_loosen_unit_roundoff,
                                                    "gemm_rigorous_float64"),
    "a factor of 10 lost in the step's gradient bound": (_lose_a_factor_in_the_step,
                                                         "gradient"),
    "the statistical lambda raised tenfold": (_loosen_lambda, "rowsum_statistical"),
    "the precision test's slack raised tenfold": (_raise_the_slack, "precision"),
}


@pytest.mark.parametrize("loosening", sorted(LOOSENINGS))
def test_a_loosened_judge_falls_below_its_fraction(monkeypatch, loosening):
    loosen, bound = LOOSENINGS[loosening]
    loosen(monkeypatch)
    assert MEASURES[f"tightness.{bound}"]() < tolerance(f"tightness.{bound}")


# --- every sum bound at several sizes: the course's K = 784 and the 4096 of large GEMMs -------
# A bound can grow looser at some K only (a factor lost in the K-loop's count, a tier that
# switches with K), which a measure at K <= 3 never sees. Shapes stay thin: M and N small.

SIZES = (17, 64, 784, 4096)  # just past 16 (a tile), a few tiles, the course's K, large
STATISTICAL_SIZES = (256, 784, 4096)  # where the random walk is tighter than gamma_n (n > 85)


def accumulating_terms(dtype, n: int) -> np.ndarray:
    """Two rows [1, e, ..., e] and its negation, e = u (1 + 2^-10) just above half an ulp of 1:
    summed one by one, every addition rounds away by u (1 - 2^-10), so the error reaches
    (n - 1) u, the rigorous bound's own n u; summed in the reverse order, the e's add exactly
    and one rounding remains."""
    e = float(np.finfo(dtype).eps) / 2 * (1 + 2.0 ** -10)
    x = np.full((2, n), e, dtype)
    x[:, 0] = 1
    x[1] *= -1
    return x


def gemm_rigorous_at(dtype, K: int) -> float:
    """A = accumulating_terms, B = ones, both orders (float64 is judged against numpy's own
    float64 product, which errs like one of them: their difference is (K - 2) u at least)."""
    A, B = accumulating_terms(dtype, K), np.ones((K, 2), dtype)
    C0 = np.zeros((2, 2), dtype)
    return max(compare_gemm(G.honest(order)(A, B, C0, 1.0, 0.0), A, B, C0).rigorous_ratio
               for order in ("one by one", "reversed"))


def rowsum_rigorous_at(dtype, n: int) -> float:
    x = accumulating_terms(dtype, n)
    return max(compare_rowsum(np.cumsum(x[:, ::step], axis=1, dtype=dtype)[:, -1],
                              x).rigorous_ratio for step in (1, -1))


def gemm_statistical_at(K: int) -> float:
    """8 x K x 8 products of positive uniform draws summed one by one in float32, where the
    random walk is the model: the worst of three seeds."""
    worst = 0.0
    for seed in range(3):
        A, B, C0, alpha, beta = C.gemm_problem("positive", (8, 8, K), np.float32, seed)
        v = compare_gemm(G.honest("one by one")(A, B, C0, alpha, beta), A, B, C0, alpha, beta)
        worst = max(worst, v.statistical_ratio)
    return worst


def rowsum_statistical_at(n: int) -> float:
    """64 rows of n positive uniform float32 draws summed one by one: the worst of three
    seeds."""
    worst = 0.0
    for seed in range(3):
        x = C.matrix("positive", (64, n), np.random.default_rng(seed), np.float32)
        s = np.cumsum(x, axis=1, dtype=np.float32)[:, -1]
        worst = max(worst, compare_rowsum(s, x).statistical_ratio)
    return worst


def precision_at(dtype, K: int) -> float:
    """An 8 x K x 8 normal product summed in exactly the order the precision test emulates."""
    A, B, C0, alpha, beta = C.gemm_problem("normal", (8, 8, K), dtype, K)
    v = compare_gemm(G.honest("one by one")(A, B, C0, alpha, beta), A, B, C0, alpha, beta)
    return v.precision.ratio


BY_SIZE = {  # (what, size) -> (tolerances.toml key, the worst honest ratio at that size)
    **{(f"{sum_} {np.dtype(t)} rigorous", K): (key, lambda at=at, t=t, K=K: at(t, K))
       for sum_, at in (("gemm", gemm_rigorous_at), ("rowsum", rowsum_rigorous_at))
       for t, key in ((np.float32, "tightness.rigorous_by_size_float32"),
                      (np.float64, "tightness.rigorous_by_size_float64"))
       for K in SIZES},
    **{("gemm float32 statistical", K): ("tightness.statistical_by_size",
                                         lambda K=K: gemm_statistical_at(K))
       for K in STATISTICAL_SIZES},
    **{("rowsum float32 statistical", n): ("tightness.statistical_by_size",
                                           lambda n=n: rowsum_statistical_at(n))
       for n in STATISTICAL_SIZES},
    **{(f"gemm {np.dtype(t)} precision", K): ("tightness.precision",
                                              lambda t=t, K=K: precision_at(t, K))
       for t in (np.float32, np.float64) for K in SIZES},
}


@pytest.mark.parametrize(("what", "size"), sorted(BY_SIZE))
def test_every_sum_bound_is_tight_at_every_size(what, size):
    key, measure = BY_SIZE[(what, size)]
    worst = measure()
    assert tolerance(key) <= worst <= 1, f"{what} at {size}: {worst:.3g} against {key}"


def _looser_past_16(monkeypatch):
    """The GEMM bound, both tiers, ten times looser for K > 16 only (the held-out mutation);
    the row-sum bound ten times looser (every n measured is past 16)."""
    gemm_bound, real = roundoff.gemm_bound, roundoff.tolerance

    def gemm_looser(A, B, *args, **kw):
        return gemm_bound(A, B, *args, **kw) * (10 if np.shape(A)[1] > 16 else 1)

    monkeypatch.setattr(roundoff, "gemm_bound", gemm_looser)
    monkeypatch.setattr(roundoff, "tolerance", lambda key: 10 * real(key)
                        if key == "rowsum.factor" else real(key))


def _slack_tenfold(monkeypatch):
    real = precision.tolerance
    monkeypatch.setattr(precision, "tolerance", lambda key: 10 * real(key)
                        if key == "precision.slack" else real(key))


@pytest.mark.parametrize(("what", "size"), sorted(BY_SIZE))
def test_a_bound_loosened_past_k_16_falls_below_its_fraction_at_every_size(monkeypatch, what,
                                                                          size):
    (_slack_tenfold if what.endswith("precision") else _looser_past_16)(monkeypatch)
    key, measure = BY_SIZE[(what, size)]
    assert measure() < tolerance(key), f"{what} at {size}"
