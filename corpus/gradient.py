"""Backpropagations that measure the judge: honest second implementations (float32 from the
equations; float64 with the batch split as data parallelism splits it) and ones with a bug
planted on purpose. A gradient bug is a drop-in replacement for the oracle's backward:
backward(p, X, Y, reg) -> Params of (dW1, db1, dW2, db2)."""

from __future__ import annotations

import itertools

import numpy as np

from ..common.params import Params
from ..reference import network

# The oracle's backward as imported, so that a bug standing in for network.backward (a test
# may put it there) still builds on the correct one.
_backward = network.backward


def float32_values(p: Params, X, Y) -> tuple[Params, np.ndarray, np.ndarray]:
    """p, X, Y rounded to float32 and back, so that both implementations see the same inputs."""
    def as32(a):
        return np.asarray(a, np.float32).astype(np.float64)

    return p.map(as32), as32(X), as32(Y)


def backward_float32(p: Params, X, Y, reg: float) -> tuple[Params, float]:
    """(gradient, loss) computed entirely in float32, straight from SPEC section 1."""
    f = np.float32
    W1, b1, W2, b2 = (a.astype(f) for a in p.blocks().values())
    X, Y, reg, N = X.astype(f), Y.astype(f), f(reg), f(X.shape[1])
    z1 = W1 @ X + b1
    a1 = np.exp(-np.logaddexp(f(0), -z1))
    z2 = W2 @ a1 + b2
    shifted = z2 - z2.max(axis=0)
    log_yhat = shifted - np.log(np.exp(shifted).sum(axis=0))
    J = -(Y * log_yhat).sum() / N + reg / f(2) * ((W1 * W1).sum() + (W2 * W2).sum())
    dz2 = (np.exp(log_yhat) - Y) / N
    dz1 = (W2.T @ dz2) * a1 * (f(1) - a1)
    grad = Params(dz1 @ X.T + reg * W1, dz1.sum(axis=1, keepdims=True),
                  dz2 @ a1.T + reg * W2, dz2.sum(axis=1, keepdims=True))
    return grad, float(J)


def backward_by_column_parts(p: Params, X, Y, reg: float, parts: int) -> Params:
    """float64, the batch split in column parts whose data gradients are summed afterwards
    (as data parallelism does), lambda W added once."""
    N = X.shape[1]
    edges = np.linspace(0, N, parts + 1).astype(int)
    total = None
    for lo, hi in itertools.pairwise(edges):
        if hi == lo:
            continue
        g = _backward(p, X[:, lo:hi], Y[:, lo:hi], 0.0)
        scaled = g.map(lambda a: a * ((hi - lo) / N))  # noqa: B023 (map calls it now)
        total = scaled if total is None else total.map(lambda t, s: t + s, scaled)
    return Params(total.W1 + reg * p.W1, total.b1, total.W2 + reg * p.W2, total.b2)


# --- bugs ------------------------------------------------------------------------------------

def wrong_sigmoid_derivative(p, X, Y, reg):
    """dz1 = da1 * a1 instead of da1 * a1 * (1 - a1): corrupts dW1 and db1 only."""
    fwd = network.forward(p, X)
    good = _backward(p, X, Y, reg, fwd)
    da1 = p.W2.T @ ((fwd.yhat - Y) / Y.shape[1])
    dz1 = da1 * fwd.a1
    return Params(dz1 @ X.T + reg * p.W1, dz1.sum(axis=1, keepdims=True), good.W2, good.b2)


def missing_l2_in_dW1(p, X, Y, reg):
    """dW1 without + lambda W1: corrupts dW1 only."""
    g = _backward(p, X, Y, reg)
    return Params(g.W1 - reg * p.W1, g.b1, g.W2, g.b2)


def db2_averaged(p, X, Y, reg):
    """db2 = mean of dz2 over the batch instead of the sum: corrupts db2 only."""
    g = _backward(p, X, Y, reg)
    return Params(g.W1, g.b1, g.W2, g.b2 / Y.shape[1])


def l2_on_the_biases(p, X, Y, reg):
    """lambda b added to the bias gradients too (biases are not regularised)."""
    g = _backward(p, X, Y, reg)
    return Params(g.W1, g.b1 + reg * p.b1, g.W2, g.b2 + reg * p.b2)


def half_the_l2_gradient(p, X, Y, reg):
    """The gradient of (lambda/2)||W||^2 taken as (lambda/2) W."""
    g = _backward(p, X, Y, reg)
    return Params(g.W1 - reg / 2 * p.W1, g.b1, g.W2 - reg / 2 * p.W2, g.b2)


def averaged_twice(p, X, Y, reg):
    """dz2 divided by N twice: the data term of every block N times too small."""
    data = _backward(p, X, Y, 0.0)
    N = Y.shape[1]
    return Params(data.W1 / N + reg * p.W1, data.b1 / N, data.W2 / N + reg * p.W2,
                  data.b2 / N)


def tanh_network(p, X, Y, reg):
    """Another activation with its matching derivative: a = tanh(z1), dz1 = da1 (1 - a^2).
    Forward and backward agree, so the implementation's own gradient check passes; only a
    comparison with the oracle's network shows that it is not the network asked for."""
    a1 = np.tanh(p.W1 @ X + p.b1)
    z2 = p.W2 @ a1 + p.b2
    dz2 = (network.softmax(z2) - Y) / Y.shape[1]
    dz1 = (p.W2.T @ dz2) * (1 - a1 * a1)
    return Params(dz1 @ X.T + reg * p.W1, dz1.sum(axis=1, keepdims=True),
                  dz2 @ a1.T + reg * p.W2, dz2.sum(axis=1, keepdims=True))


def l2_doubled(p, X, Y, reg):
    g = _backward(p, X, Y, reg)
    return Params(g.W1 + reg * p.W1, g.b1, g.W2 + reg * p.W2, g.b2)


def l2_over_n(p, X, Y, reg):
    """lambda W divided by N with the data term (the L2 term put inside the mean)."""
    g, N = _backward(p, X, Y, reg), Y.shape[1]
    return Params(g.W1 - reg * p.W1 * (1 - 1 / N), g.b1, g.W2 - reg * p.W2 * (1 - 1 / N), g.b2)


def batch_sum(p, X, Y, reg):
    """The data term summed over the batch, not averaged."""
    data, N = _backward(p, X, Y, 0.0), Y.shape[1]
    return Params(N * data.W1 + reg * p.W1, N * data.b1, N * data.W2 + reg * p.W2, N * data.b2)


def ascent(p, X, Y, reg):
    return _backward(p, X, Y, reg).map(lambda g: -g)


def minus_n_times(p, X, Y, reg):
    """The gradient of the summed log-likelihood: -N times the loss's gradient."""
    N = Y.shape[1]
    return _backward(p, X, Y, reg).map(lambda g: -N * g)


def sigmoid_output(p, X, Y, reg):
    """A sigmoid where the softmax belongs: dz2 = (sigmoid(z2) - Y) / N."""
    a1 = network.sigmoid(p.W1 @ X + p.b1)
    dz2 = (network.sigmoid(p.W2 @ a1 + p.b2) - Y) / Y.shape[1]
    dz1 = (p.W2.T @ dz2) * a1 * (1 - a1)
    return Params(dz1 @ X.T + reg * p.W1, dz1.sum(axis=1, keepdims=True),
                  dz2 @ a1.T + reg * p.W2, dz2.sum(axis=1, keepdims=True))


def labels_off_by_one(p, X, Y, reg):
    """Label k taken as k + 1 (mod 10): a one-hot built from labels shifted by one."""
    return _backward(p, X, np.roll(Y, 1, axis=0), reg)


# name -> (backward, the blocks it corrupts)
GRADIENT_BUGS = {
    "wrong sigmoid derivative": (wrong_sigmoid_derivative, {"W1", "b1"}),
    "missing L2 term in dW1": (missing_l2_in_dW1, {"W1"}),
    "db2 averaged instead of summed": (db2_averaged, {"b2"}),
}
MORE_GRADIENT_BUGS = {
    "L2 term on the biases": l2_on_the_biases,
    "half the L2 gradient": half_the_l2_gradient,
    "data term averaged twice": averaged_twice,
    "tanh with its own derivative (self-consistent)": tanh_network,
    "L2 term doubled": l2_doubled,
    "L2 term divided by N": l2_over_n,
    "the batch sum instead of the mean": batch_sum,
    "ascent instead of descent": ascent,
    "-N times the gradient": minus_n_times,
    "a sigmoid in place of the softmax": sigmoid_output,
    "labels off by one": labels_off_by_one,
}


def backward_by_hidden_parts(p: Params, X, Y, reg: float, parts: int) -> Params:
    """float64, the hidden units split in parts (as model parallelism splits them): z2 is the
    sum of the parts' W2[:, h] a1[h], and each part's gradient blocks are its own."""
    H = p.hidden
    edges = np.linspace(0, H, parts + 1).astype(int)
    pieces = [slice(lo, hi) for lo, hi in itertools.pairwise(edges) if hi > lo]
    a1 = [network.sigmoid(p.W1[h] @ X + p.b1[h]) for h in pieces]
    z2 = sum(p.W2[:, h] @ a for h, a in zip(pieces, a1, strict=True)) + p.b2
    dz2 = (network.softmax(z2) - Y) / Y.shape[1]
    grad = Params(np.empty_like(p.W1), np.empty_like(p.b1), np.empty_like(p.W2),
                  dz2.sum(axis=1, keepdims=True))
    for h, a in zip(pieces, a1, strict=True):
        dz1 = (p.W2[:, h].T @ dz2) * a * (1 - a)
        grad.W1[h] = dz1 @ X.T + reg * p.W1[h]
        grad.b1[h] = dz1.sum(axis=1, keepdims=True)
        grad.W2[:, h] = dz2 @ a.T + reg * p.W2[:, h]
    return grad


# --- training steps: (updated parameters, J before the step) -----------------------------

def step_float32(p: Params, X, Y, reg: float, lr: float) -> tuple[Params, float]:
    grad, J = backward_float32(p, X, Y, reg)
    f = np.float32
    return p.map(lambda a, g: a.astype(f) - f(lr) * g, grad), J


def step_by_parts(parts: int, hidden: bool):
    """A float64 step whose gradient is summed over batch parts (data parallelism) or hidden
    parts (model parallelism)."""
    def step(p, X, Y, reg, lr):
        grad = (backward_by_hidden_parts if hidden else backward_by_column_parts)(
            p, X, Y, reg, parts)
        return p.map(lambda a, g: a - lr * g, grad), network.loss(p, X, Y, reg)
    return step


def step_wrong_sign(p, X, Y, reg, lr):
    grad = _backward(p, X, Y, reg)
    return p.map(lambda a, g: a + lr * g, grad), network.loss(p, X, Y, reg)


def step_lr_twice_on_b2(p, X, Y, reg, lr):
    grad = _backward(p, X, Y, reg)
    return Params(p.W1 - lr * grad.W1, p.b1 - lr * grad.b1, p.W2 - lr * grad.W2,
                  p.b2 - 2 * lr * grad.b2), network.loss(p, X, Y, reg)


def step_full_batch_normaliser(batch: int):
    """The last partial batch (N < batch columns) averaged over the full batch size."""
    def step(p, X, Y, reg, lr):
        data = _backward(p, X, Y, 0.0)
        scale = X.shape[1] / batch
        grad = Params(data.W1 * scale + reg * p.W1, data.b1 * scale, data.W2 * scale + reg * p.W2,
                      data.b2 * scale)
        return p.map(lambda a, g: a - lr * g, grad), network.loss(p, X, Y, reg)
    return step


def step_loss_without_l2(p, X, Y, reg, lr):
    """The update is right; the reported J leaves out the L2 term."""
    grad = _backward(p, X, Y, reg)
    return p.map(lambda a, g: a - lr * g, grad), network.loss_terms(p, X, Y, reg)[0]


def step_b1_not_updated(p, X, Y, reg, lr):
    g = _backward(p, X, Y, reg)
    return Params(p.W1 - lr * g.W1, p.b1.copy(), p.W2 - lr * g.W2, p.b2 - lr * g.b2), \
        network.loss(p, X, Y, reg)


def step_w2_first(p, X, Y, reg, lr):
    """W2 updated in place before dz1 = W2^T dz2 ... is computed from it."""
    fwd = network.forward(p, X)
    dz2 = (fwd.yhat - Y) / Y.shape[1]
    W2 = p.W2 - lr * (dz2 @ fwd.a1.T + reg * p.W2)
    dz1 = (W2.T @ dz2) * fwd.a1 * (1 - fwd.a1)
    return Params(p.W1 - lr * (dz1 @ X.T + reg * p.W1),
                  p.b1 - lr * dz1.sum(axis=1, keepdims=True), W2,
                  p.b2 - lr * dz2.sum(axis=1, keepdims=True)), network.loss(p, X, Y, reg)


STEP_BUGS = {
    "update with the wrong sign": step_wrong_sign,
    "lr applied twice to b2": step_lr_twice_on_b2,
    "partial batch averaged over the full batch size": step_full_batch_normaliser(32),
    "loss reported without its L2 term": step_loss_without_l2,
    "b1 not updated": step_b1_not_updated,
    "W2 updated before dz1 is computed from it": step_w2_first,
}

# The cause judge/diagnose_network.py must name for each planted bug.
CAUSES = {
    "wrong sigmoid derivative": "sigmoid derivative wrong",
    "missing L2 term in dW1": "L2 term missing",
    "db2 averaged instead of summed": "batch mean taken twice",
    "L2 term on the biases": "L2 term on the biases",
    "half the L2 gradient": "L2 term halved",
    "data term averaged twice": "batch mean taken twice",
    "tanh with its own derivative (self-consistent)": "tanh for sigmoid",
    "L2 term doubled": "L2 term doubled",
    "L2 term divided by N": "L2 term divided by N",
    "the batch sum instead of the mean": "batch sum instead of mean",
    "ascent instead of descent": "sign flipped",
    "-N times the gradient": "-N times the gradient",
    "a sigmoid in place of the softmax": "sigmoid for softmax",
    "labels off by one": "labels shifted",
    "update with the wrong sign": "sign flipped",
    "lr applied twice to b2": "update scaled",
    "partial batch averaged over the full batch size": "data term scaled",
    "loss reported without its L2 term": "L2 term missing",
    "b1 not updated": "not updated",
    "W2 updated before dz1 is computed from it": "update order",
}
