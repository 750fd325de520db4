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
