"""Verdicts on a trainer's evaluation: the data it evaluates (after scaling), its logits, its
predictions and its accuracy, each against the oracle's for the same parameters. A training
step can be right while its evaluation is wrong (a bias left out of the logits, a test set
left unscaled); only these comparisons see that.

    data         images (N x 784) in the implementation's dtype: the oracle's, rounded
                 once to that dtype (half an ulp)
    logits       z2 (10 x N): the forward bound E_z2 of judge/bounds.py, both tiers
    predictions  the oracle's argmax, except in a column whose top two logits lie within
                 the logits' bound of each other, where either answer is honest
    accuracy     the oracle's, give or take those ambiguous columns
"""

from __future__ import annotations

import numpy as np

from ..common.params import Params
from ..reference import network
from .bounds import Pass, forward_error
from .roundoff import compare_bounded, compare_ulps
from .verdict import QUIET, Verdict, judge_elements


@QUIET
def compare_data(images, expected) -> Verdict:
    """images as the implementation holds them, against the oracle's (float64)."""
    return compare_ulps(images, np.asarray(expected, np.float64), 0.5, "data")


def _logit_bounds(p: Params, X, dtype) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(the oracle's z2, rigorous bound, statistical bound), each with the oracle's own."""
    done = Pass(p, X)
    fwd, _, mine = forward_error(p, X, dtype, done=done)
    _, _, mine_statistical = forward_error(p, X, dtype, statistical=True, done=done)
    _, _, oracle = forward_error(p, X, np.float64, done=done)
    return fwd.z2, mine + oracle, mine_statistical + oracle


@QUIET
def compare_logits(z2, p: Params, X) -> Verdict:
    """z2 = W2 sigmoid(W1 X + b1) + b2 for X (784 x N), in z2's dtype."""
    expected, rigorous, statistical = _logit_bounds(p, X, np.asarray(z2).dtype)
    return compare_bounded("logits", z2, expected, rigorous, statistical)


def ambiguous(p: Params, X, dtype) -> np.ndarray:
    """The columns where honest logits may rank two classes either way: the oracle's top two
    logits lie within the sum of their rigorous bounds."""
    z2, bound, _ = _logit_bounds(p, X, dtype)
    order = np.argsort(z2, axis=0)
    top, second = order[-1], order[-2]
    columns = np.arange(z2.shape[1])
    gap = z2[top, columns] - z2[second, columns]
    return gap <= bound[top, columns] + bound[second, columns]


@QUIET
def compare_predictions(predicted, p: Params, X, dtype) -> Verdict:
    """predicted (N,) classes against the oracle's argmax; an ambiguous column may differ."""
    predicted = np.asarray(predicted)
    expected = network.predict(p, np.asarray(X, np.float64))
    wrong = (predicted != expected).astype(np.float64)
    allowed = ambiguous(p, X, dtype).astype(np.float64)
    return judge_elements("predictions", predicted, expected, wrong, allowed)


@QUIET
def compare_accuracy(accuracy: float, p: Params, X, labels, dtype) -> Verdict:
    """accuracy on (X, labels) against the oracle's, which the ambiguous columns may move by
    one image each."""
    expected = network.accuracy(p, np.asarray(X, np.float64), labels)
    slack = np.count_nonzero(ambiguous(p, X, dtype)) / X.shape[1]
    return compare_bounded("accuracy", np.array([accuracy]), np.array([expected]),
                           np.array([slack]))
