"""oraclenet regress: the ensemble consistency test passes honest reruns (another summation
order, another formula, the same run bit for bit, which it calls identical) and catches the
issue's planted regressions (the L2 term on b1 as well, a learning rate halved after the
first epoch), naming the first checkpoint that leaves the ensemble."""

import numpy as np
import pytest
from scipy import stats

from oraclenet.common.data import Dataset, load
from oraclenet.common.params import Params, init_params
from oraclenet.judge.tolerances import tolerance
from oraclenet.reference import network
from oraclenet.regress import consistency, trajectory

IMAGES, HIDDEN, BATCH, LR, LAM, EPOCHS, MEMBERS = 1000, 16, 100, 0.5, 1e-3, 2, 40


def correct(W1, b1, W2, b2, X, Y, lr, reg):
    p = Params(W1.copy(), b1.copy(), W2.copy(), b2.copy())
    network.step(p, X, Y, reg, lr)
    return tuple(p.blocks().values())


def l2_on_b1(W1, b1, W2, b2, X, Y, lr, reg):
    W1n, b1n, W2n, b2n = correct(W1, b1, W2, b2, X, Y, lr, reg)
    return W1n, b1n - lr * reg * b1, W2n, b2n


def lr_halved_after_the_first_epoch():
    calls = [0]

    def step(W1, b1, W2, b2, X, Y, lr, reg):
        calls[0] += 1
        return correct(W1, b1, W2, b2, X, Y, lr if calls[0] <= IMAGES // BATCH else lr / 2, reg)

    return step


def reversed_hidden_rows(W1, b1, W2, b2, X, Y, lr, reg):
    """The hidden units in reverse order: every product sums in another order."""
    W1n, b1n, W2n, b2n = correct(W1[::-1], b1[::-1], W2[:, ::-1], b2, X, Y, lr, reg)
    return W1n[::-1], b1n[::-1], W2n[:, ::-1], b2n


def logaddexp_sigmoid(W1, b1, W2, b2, X, Y, lr, reg):
    """Another honest formula: the sigmoid through logaddexp, the softmax through its log."""
    p = Params(W1.copy(), b1.copy(), W2.copy(), b2.copy())
    trajectory.Variant("logaddexp", True, 1).step(p, X, Y, reg, lr)
    return tuple(p.blocks().values())


@pytest.fixture(scope="module")
def baseline():
    split = load("mnist5k", "unit", 0.1, 0)
    train = Dataset(split.train.images[:IMAGES], split.train.labels[:IMAGES])
    steps = EPOCHS * IMAGES // BATCH
    run = trajectory.drive(correct, init_params(HIDDEN, 0), train, BATCH, LR, LAM, steps,
                           np.float64)
    at = trajectory.checkpoints(run.steps)
    anchor = trajectory.anchors(run, at)
    members, _ = trajectory.ensemble(run, MEMBERS, at, anchor)
    return run, at, anchor, consistency.fit(members), trajectory.trajectory(run, at, anchor)


def judge(baseline, step):
    run, at, anchor, models, recorded = baseline
    new = trajectory.drive(step, run.params[0], run.train, run.batch, run.lr, run.lam,
                           run.steps, np.float64)
    return consistency.judge(models, trajectory.trajectory(new, at, anchor), recorded)


def test_the_same_run_is_identical(baseline):
    verdict = judge(baseline, correct)
    assert verdict.identical and verdict.consistent


@pytest.mark.parametrize("step", [reversed_hidden_rows, logaddexp_sigmoid])
def test_honest_changes_are_consistent(baseline, step):
    verdict = judge(baseline, step)
    assert verdict.consistent and not verdict.identical, verdict.min_p
    assert verdict.min_p > tolerance("regress.false_alarm")


@pytest.mark.parametrize(("step", "first"), [
    (l2_on_b1, 1), (lr_halved_after_the_first_epoch(), 4)])
def test_planted_regressions_leave_the_ensemble(baseline, step, first):
    """L2 on b1 leaves at the first checkpoint; the halved rate once epoch 2 has begun
    (checkpoint 4 of 6 is step 14 of 20)."""
    verdict = judge(baseline, step)
    assert not verdict.consistent and verdict.first_step == first, verdict


def test_fresh_members_raise_false_alarms_at_the_stated_rate(baseline):
    """Members the ensemble was not built from are harmless reruns by construction: no more
    fail than the stated rate allows, up to a binomial allowance that a correct test exceeds
    with probability 1e-3."""
    run, at, anchor, models, _ = baseline
    draws = 100
    alarms = sum(not consistency.judge(models, trajectory.member(run, seed, at, anchor)[0])
                 .consistent for seed in range(1000, 1000 + draws))
    alpha = tolerance("regress.false_alarm")
    assert alarms <= stats.binom.isf(alpha, draws, alpha), alarms
