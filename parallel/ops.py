"""The arithmetic of the parallel trainers, numpy float64, written apart from the oracle.

The oracle (reference/network.py) must not share numerical code with what it judges, so
these are this package's own formulas for the same equations (SPEC section 1).
"""

from __future__ import annotations

import numpy as np


def logistic(z: np.ndarray) -> np.ndarray:
    """sigmoid(z) = exp(-log(1 + exp(-z))), through logaddexp: no overflow for any z."""
    return np.exp(-np.logaddexp(0.0, -z))


def log_probabilities(z2: np.ndarray) -> np.ndarray:
    """Column-wise log softmax of 10 x B logits, shifted by the column maximum."""
    top = z2.max(axis=0, keepdims=True)
    return z2 - top - np.log(np.sum(np.exp(z2 - top), axis=0, keepdims=True))


def cross_entropy_sum(log_p: np.ndarray, labels: np.ndarray) -> float:
    """sum_i -log p[y_i, i] (not averaged: the caller divides by the global batch)."""
    return float(-log_p[labels, np.arange(labels.size)].sum())


def output_delta(log_p: np.ndarray, labels: np.ndarray, batch: int) -> np.ndarray:
    """dz2 = (softmax - onehot) / batch for the local columns, batch the GLOBAL size."""
    delta = np.exp(log_p)
    delta[labels, np.arange(labels.size)] -= 1.0
    delta /= batch
    return delta


def hidden_delta(da1: np.ndarray, a1: np.ndarray) -> np.ndarray:
    """dz1 = da1 * sigmoid'(z1) = da1 * a1 * (1 - a1)."""
    return da1 * a1 * (1.0 - a1)
