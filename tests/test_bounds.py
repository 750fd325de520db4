"""The one-step roundoff bounds: another correct implementation passes, planted bugs fail."""

import numpy as np
import pytest

from oraclenet.common.data import one_hot
from oraclenet.common.params import Params, init_params
from oraclenet.corpus.gradient import (
    GRADIENT_BUGS,
    backward_by_column_parts,
    backward_float32,
    float32_values,
)
from oraclenet.judge import bounds
from oraclenet.judge.tolerances import tolerance
from oraclenet.reference import network

REG, LR = 1e-2, 0.5


@pytest.fixture(scope="module", params=[(7, 13, 0), (16, 40, 1), (33, 5, 2)],
                ids=lambda s: f"H{s[0]}-N{s[1]}")
def problem(request):
    H, N, seed = request.param
    rng = np.random.default_rng(seed)
    p = init_params(H, seed)
    p.b1 += 0.1 * rng.standard_normal(p.b1.shape)
    p.b2 += 0.1 * rng.standard_normal(p.b2.shape)
    X = np.rint(rng.uniform(0, 255, (784, N))) / 255
    return float32_values(p, X, one_hot(rng.integers(0, 10, N)))


def assert_all_pass(verdicts):
    failed = [str(v) for v in verdicts.values() if not v.passed]
    assert not failed, "\n".join(failed)


def test_float32_implementation_is_within_the_bounds(problem):
    p, X, Y = problem
    grad, J = backward_float32(p, X, Y, REG)
    assert_all_pass(bounds.compare_gradient(grad, p, X, Y, REG))
    assert bounds.compare_loss(J, p, X, Y, REG, np.float32).passed


def test_float32_step_is_within_the_bounds(problem):
    p, X, Y = problem
    grad, _ = backward_float32(p, X, Y, REG)
    updated = Params(*(a.astype(np.float32) - np.float32(LR) * g for a, g in
                       zip(p.blocks().values(), grad.blocks().values(), strict=True)))
    assert_all_pass(bounds.compare_step(updated, p, X, Y, REG, LR))


@pytest.mark.parametrize("parts", [2, 3, 4])
def test_data_parallel_summation_order_is_within_the_bounds(problem, parts):
    p, X, Y = problem
    assert_all_pass(bounds.compare_gradient(backward_by_column_parts(p, X, Y, REG, parts),
                                            p, X, Y, REG))


@pytest.mark.parametrize("bug", sorted(GRADIENT_BUGS))
def test_planted_bugs_fail_their_blocks_by_far(problem, bug):
    p, X, Y = problem
    backward, blocks = GRADIENT_BUGS[bug]
    verdicts = bounds.compare_gradient(backward(p, X, Y, REG), p, X, Y, REG)
    assert {name for name, v in verdicts.items() if not v.passed} == blocks
    assert min(verdicts[b].ratio for b in blocks) >= tolerance("teeth.min_bug_ratio")


def test_a_loss_without_its_l2_term_fails(problem):
    p, X, Y = problem
    wrong = network.loss(p, X, Y, 0.0)
    v = bounds.compare_loss(wrong, p, X, Y, REG, np.float64)
    assert not v.passed and v.ratio >= tolerance("teeth.min_bug_ratio")


def test_one_element_left_unupdated_fails(problem):
    p, X, Y = problem
    grad = network.backward(p, X, Y, REG)
    updated = Params(*(a - LR * g for a, g in zip(p.blocks().values(),
                                                  grad.blocks().values(), strict=True)))
    i = np.unravel_index(np.argmax(np.abs(grad.W1)), grad.W1.shape)
    updated.W1[i] = p.W1[i]
    v = bounds.compare_step(updated, p, X, Y, REG, LR)["W1"]
    assert not v.passed and v.index == tuple(int(k) for k in i) and v.n_failed == 1


def test_the_oracles_bound_scaled_from_float32s_bounds_the_oracles_own():
    """judge/bounds._oracle_from: k times float32's rigorous bound is at least float64's,
    block by block and for the loss (each is a non-negative combination of the same
    magnitudes, every coefficient at most k times float32's)."""
    from oraclenet.corpus.cases import network_problem
    from oraclenet.judge.bounds import Pass, _oracle_from, step_error

    for H, N, reg in ((1, 1, 0.0), (7, 5, 0.01), (16, 40, 1.0)):
        p, X, Y = network_problem(H, N, "pixels", H + N)
        done = Pass(p, X, Y)
        single = step_error(p, X, Y, reg, np.float32, False, done)
        own = step_error(p, X, Y, reg, np.float64, False, done)
        scaled = _oracle_from({(np.dtype(np.float32), False): single}, p, X, Y)
        for name in own.grad.blocks():
            assert np.all(getattr(scaled.grad, name) >= getattr(own.grad, name)), name
        assert scaled.loss >= own.loss
        # and no looser than it need be: at least half the oracle's own somewhere
        live = scaled.grad.W1 > 0
        assert np.max(own.grad.W1[live] / scaled.grad.W1[live]) > 0.5


# --- every setting of the bounds' own parameters ---------------------------------------------
# A bound depends on lr, lambda, N, H and the dtype; one tested at a single setting may be
# wrong at another (lr dropped from a term, a mean's 1/N lost) and no test would see it. Each
# parameter is varied over the corpus's range (tolerances.toml [bounds]) around a base.

BASE = {"H": 4, "N": 7, "lr": 0.5, "reg": 1e-2}
RANGES = {"lr": (1e-3, 10.0), "reg": (0.0, 1.0), "N": (1, 256), "H": (1, 64)}
SETTINGS = [(dtype, s) for dtype in (np.float32, np.float64)
            for s in [BASE, *({**BASE, name: v} for name, values in RANGES.items()
                              for v in values)]]
IDS = [f"{np.dtype(t)}-H{s['H']}-N{s['N']}-lr{s['lr']:g}-reg{s['reg']:g}" for t, s in SETTINGS]


def setting_problem(dtype, s):
    from oraclenet.corpus.cases import network_problem
    from oraclenet.corpus.forms import FORMS, run

    p, X, Y = network_problem(s["H"], s["N"], "pixels", s["H"] + s["N"])
    grad, updated, _ = run(FORMS["SPEC's order"], p, X, Y, s["reg"], s["lr"], dtype)
    return p, X, Y, grad, updated


def ratio(value, expected: float, allowed: float) -> float:
    """The judge's test of one element: |value - expected| / allowed, in float64."""
    return abs(float(value) - expected) / allowed


def edge(expected: float, allowed: float, dtype, outside: bool):
    """The value of dtype nearest the bound expected + allowed on the given side of it: the
    first whose ratio exceeds 1 (outside), or the last whose ratio does not (inside)."""
    x = np.asarray(expected + allowed).astype(dtype)
    toward = np.inf if outside else -np.inf
    while (ratio(x, expected, allowed) > 1) != outside:
        x = np.nextafter(x, dtype(toward))
    if outside:
        while ratio(np.nextafter(x, dtype(-np.inf)), expected, allowed) > 1:
            x = np.nextafter(x, dtype(-np.inf))
    return x


@pytest.mark.parametrize(("dtype", "s"), SETTINGS, ids=IDS)
@pytest.mark.parametrize("what", ["step", "gradient"])
def test_a_result_just_outside_the_bound_fails_and_just_inside_passes_at_every_setting(
        what, dtype, s):
    """In each block, the element with the largest bound moved to the last value of the dtype
    inside the statistical (the tighter) bound passes; moved to the first value beyond the
    rigorous one, it fails, alone and where it was put."""
    p, X, Y, grad, updated = setting_problem(dtype, s)
    lr = s["lr"] if what == "step" else None
    result = updated if what == "step" else grad
    rigorous, _ = bounds.allowed(p, X, Y, s["reg"], dtype, lr)
    statistical, _ = bounds.allowed(p, X, Y, s["reg"], dtype, lr, statistical=True)
    exact = network.backward(p, X, Y, s["reg"])
    if what == "step":
        exact = Params(*(a - s["lr"] * g for a, g in zip(p.blocks().values(),
                                                         exact.blocks().values(), strict=True)))

    def judge(values: Params):
        if what == "step":
            return bounds.compare_step(values, p, X, Y, s["reg"], s["lr"])
        return bounds.compare_gradient(values, p, X, Y, s["reg"])

    at = {name: np.unravel_index(np.argmax(getattr(rigorous, name)), block.shape)
          for name, block in result.blocks().items()}
    for outside, allowed in ((False, statistical), (True, rigorous)):
        moved = Params(*(block.copy() for block in result.blocks().values()))
        for name, i in at.items():
            getattr(moved, name)[i] = edge(float(getattr(exact, name)[i]),
                                           float(getattr(allowed, name)[i]), dtype, outside)
        verdicts = judge(moved)
        for name, i in at.items():
            v = verdicts[name]
            if outside:
                assert not v.passed and v.n_failed == 1, (name, str(v))
                assert v.index == tuple(int(k) for k in i), (name, str(v))
            else:
                assert v.passed, (name, str(v))


@pytest.mark.parametrize(("dtype", "s"), SETTINGS, ids=IDS)
def test_the_step_bound_is_tight_at_every_setting(dtype, s):
    """The worst honest step of the forms that come nearest (corpus/forms.py) reaches
    [tightness] step_every_setting_<dtype> of the rigorous bound at every setting, so a bound
    that grows looser at one lr, lambda, N, H or dtype is seen there."""
    from oraclenet.corpus.cases import network_problem
    from oraclenet.corpus.forms import FORMS, run

    p, X, Y = network_problem(s["H"], s["N"], "pixels", s["H"] + s["N"])
    worst = 0.0
    for form in NEAREST_FORMS:
        _, updated, _ = run(FORMS[form], p, X, Y, s["reg"], s["lr"], dtype)
        verdicts = bounds.compare_step(updated, p, X, Y, s["reg"], s["lr"])
        assert all(v.passed for v in verdicts.values()), form
        worst = max(worst, *(v.rigorous_ratio for v in verdicts.values()))
    key = {np.float32: "tightness.step_every_setting_float32",
           np.float64: "tightness.step_every_setting_float64"}[dtype]
    assert worst >= tolerance(key), worst


NEAREST_FORMS = ("SPEC's order", "weight decay factored", "lr / N on the sums, lr on the L2 term",
                 "L2 term inside the batch mean", "batch mean after the products")
