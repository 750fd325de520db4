"""Verdicts on the network's elementwise steps, for any implementation (a GPU kernel, a numpy
formula, another language's output): each against the float64 oracle, in ulps where the
result is well conditioned and against a derived bound where it cancels.

    sigmoid        a = 1 / (1 + exp(-z))                ulps: device.sigmoid_ulps, plus
                                                        sigmoid's condition |z| (1 - a) times
                                                        device.sigmoid_backward_u
    add_bias       z + b                                half an ulp (one rounding)
    softmax        column-wise, any max subtraction      the [softmax] bound, CUDA's exp
    cross_entropy  sum_i -log softmax(z)[y_i, i]         log-sum-exp bound + gamma_N
    output_delta   (yhat - onehot) / N                   two roundings of |yhat| + onehot
    sigmoid_delta  da a (1 - a)                          ulps: device.sigmoid_delta_ulps
    update         p - lr g                              two roundings of |p| + lr |g|

The bounds assume CUDA's functions (exp within 2 ulps), the loosest library in use here.
"""

from __future__ import annotations

import numpy as np

from ..reference import network
from .roundoff import compare_bounded, compare_ulps, gamma, unit_roundoff
from .tolerances import tolerance
from .verdict import QUIET, Verdict


def _dtype(x) -> np.dtype:
    return np.asarray(x).dtype


def _subnormal(x) -> float:
    """A rounding in the subnormal range errs by up to half its spacing, not by u relative."""
    return float(np.finfo(_dtype(x)).smallest_subnormal)


@QUIET
def compare_sigmoid(a, z) -> Verdict:
    """a = sigmoid(z), elementwise, in a's dtype: within device.sigmoid_ulps of the exact
    sigmoid of a z perturbed by device.sigmoid_backward_u units of roundoff (a relative
    change of z moves a by |z| (1 - a) times as much, relatively)."""
    z64 = np.asarray(z, dtype=np.float64)
    expected = network.sigmoid(z64)
    condition = np.abs(z64) * (1 - expected)
    return compare_ulps(a, expected, tolerance("device.sigmoid_ulps")
                        + tolerance("device.sigmoid_backward_u") * condition, "sigmoid")


@QUIET
def compare_add_bias(out, z, b) -> Verdict:
    """out = z + b (b broadcast along rows): one correctly rounded addition."""
    return compare_ulps(out, np.asarray(z, np.float64) + np.asarray(b, np.float64), 0.5,
                        "add_bias")


@QUIET
def compare_softmax(yhat, z) -> Verdict:
    """yhat = softmax(z) column by column (z: 10 x N)."""
    z64 = np.asarray(z, np.float64)
    expected = network.softmax(z64)
    shift = np.abs(z64 - z64.max(axis=0))
    dtype = _dtype(yhat)
    allowed = (tolerance("device.softmax_factor") * tolerance("softmax.factor")
               * unit_roundoff(dtype) * (shift + shift.max(axis=0) + 14) * expected
               + np.finfo(dtype).tiny)  # results below the normal range may flush to 0
    return compare_bounded("softmax", yhat, expected, allowed)


@QUIET
def compare_cross_entropy_sum(J, z, labels) -> Verdict:
    """J = sum_i -log softmax(z)[y_i, i] over the N columns of z (10 x N): per column the
    sum S of 10 exponentials to (max|z - m| + 9 + c) u, the log c u |log S|, two roundings;
    then the sum over the columns in any order (c: tolerances.toml [bounds])."""
    z64 = np.asarray(z, np.float64)
    N = z64.shape[1]
    top = z64.max(axis=0)
    log_S = np.log(np.exp(z64 - top).sum(axis=0))
    ell = log_S + top - z64[labels, np.arange(N)]
    dtype = _dtype(J)
    u, c = unit_roundoff(dtype), tolerance("bounds.elementwise_u")
    spread = np.abs(z64 - top).max(axis=0)
    per_column = u * (spread + 9 + c + c * np.abs(log_S) + np.abs(log_S + top) + np.abs(ell))
    allowed = per_column.sum() + gamma(max(N, 1), dtype) * np.abs(ell).sum()
    return compare_bounded("cross entropy", np.reshape(J, 1), np.array([ell.sum()]), allowed)


@QUIET
def compare_output_delta(d, yhat, labels, N: int) -> Verdict:
    """d = (yhat - onehot(labels)) / N; the difference cancels where yhat is near 1, so it is
    judged against the size of its inputs."""
    yhat64 = np.asarray(yhat, np.float64)
    onehot = np.eye(yhat64.shape[0])[:, labels]
    expected = (yhat64 - onehot) / N
    allowed = tolerance("device.two_op_ulps") * (2 * unit_roundoff(_dtype(d)) * (
        np.abs(yhat64) + onehot) / N + _subnormal(d))
    return compare_bounded("output delta", d, expected, allowed)


@QUIET
def compare_sigmoid_delta(dz, da, a) -> Verdict:
    """dz = da a (1 - a)."""
    a64 = np.asarray(a, np.float64)
    return compare_ulps(dz, np.asarray(da, np.float64) * a64 * (1 - a64),
                        tolerance("device.sigmoid_delta_ulps"), "sigmoid delta")


@QUIET
def compare_update(updated, p, g, lr: float) -> Verdict:
    """updated = p - lr g (an SGD step): two roundings of |p| + lr |g|."""
    p64, g64 = np.asarray(p, np.float64), np.asarray(g, np.float64)
    allowed = tolerance("device.two_op_ulps") * (2 * unit_roundoff(_dtype(updated)) * (
        np.abs(p64) + lr * np.abs(g64)) + _subnormal(updated))
    return compare_bounded("update", updated, p64 - lr * g64, allowed)
