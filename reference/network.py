"""The oracle: a two-layer network in numpy float64, written as the equations of SPEC section 1.

Images are columns: X is 784 x N, one-hot labels Y are 10 x N.

    z1 = W1 X + b1 1^T      a1 = sigmoid(z1)
    z2 = W2 a1 + b2 1^T     yhat = softmax(z2)
    J  = (1/N) sum_i -log yhat[y_i, i] + (lambda/2)(||W1||_F^2 + ||W2||_F^2)

    dz2 = (yhat - Y) / N
    dW2 = dz2 a1^T + lambda W2      db2 = rowsum(dz2)
    da1 = W2^T dz2                  dz1 = da1 * a1 (1 - a1)
    dW1 = dz1 X^T + lambda W1       db1 = rowsum(dz1)
    p  <- p - lr dp

Nothing here is shared with the implementations the oracle judges. The same step, computed
in row blocks on every core, is reference/threaded.py (bit for bit the same numbers).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..common.params import Params


def sigmoid(z: np.ndarray) -> np.ndarray:
    """1 / (1 + exp(-z)) elementwise, float64, without overflow or warnings for any z.

    With e = exp(-|z|), which never overflows: 1 / (1 + e) for z >= 0 and, multiplying
    through by e, e / (1 + e) for z < 0. (reference/threaded.py writes the same numbers over
    z with one temporary.)
    """
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1.0, e) / (1.0 + e)


def sigmoid_grad(a: np.ndarray) -> np.ndarray:
    """d sigmoid / dz expressed through a = sigmoid(z): a (1 - a)."""
    return a * (1.0 - a)


def log_softmax(z: np.ndarray) -> np.ndarray:
    """Column-wise log softmax of a 10 x N array, with the column maximum subtracted."""
    shifted = z - z.max(axis=0, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=0, keepdims=True))


def softmax(z: np.ndarray) -> np.ndarray:
    """Column-wise softmax of a 10 x N array, with the column maximum subtracted."""
    e = np.exp(z - z.max(axis=0, keepdims=True))
    return e / e.sum(axis=0, keepdims=True)


@dataclass
class Forward:
    """Activations of one forward pass: a1 (H x N), z2 and yhat (10 x N), float64."""

    a1: np.ndarray
    z2: np.ndarray
    yhat: np.ndarray


def forward(p: Params, X: np.ndarray) -> Forward:
    """Forward pass for a batch X (784 x N)."""
    a1 = sigmoid(p.W1 @ X + p.b1)
    z2 = p.W2 @ a1 + p.b2
    return Forward(a1, z2, softmax(z2))


def data_loss(z2: np.ndarray, Y: np.ndarray) -> float:
    """Mean cross-entropy (1/N) sum_i -log softmax(z2)[y_i, i], computed by log-sum-exp."""
    return float(-(Y * log_softmax(z2)).sum() / Y.shape[1])


def l2_loss(p: Params, reg: float) -> float:
    """(lambda/2)(||W1||_F^2 + ||W2||_F^2); biases are not regularised."""
    return 0.5 * reg * (float(np.vdot(p.W1, p.W1)) + float(np.vdot(p.W2, p.W2)))


def loss_terms(p: Params, X: np.ndarray, Y: np.ndarray, reg: float) -> tuple[float, float]:
    """(data term, L2 term) of J for a batch."""
    return data_loss(forward(p, X).z2, Y), l2_loss(p, reg)


def loss(p: Params, X: np.ndarray, Y: np.ndarray, reg: float) -> float:
    """J = data term + L2 term."""
    return sum(loss_terms(p, X, Y, reg))


def backward(p: Params, X: np.ndarray, Y: np.ndarray, reg: float,
             fwd: Forward | None = None) -> Params:
    """Gradient of J for a batch of N columns, as a Params of (dW1, db1, dW2, db2).

    The data term is averaged over the batch; the lambda W term is not divided by N.
    """
    fwd = forward(p, X) if fwd is None else fwd
    dz2 = (fwd.yhat - Y) / Y.shape[1]
    dW2 = dz2 @ fwd.a1.T + reg * p.W2
    db2 = dz2.sum(axis=1, keepdims=True)
    da1 = p.W2.T @ dz2
    dz1 = da1 * sigmoid_grad(fwd.a1)
    dW1 = dz1 @ X.T + reg * p.W1
    db1 = dz1.sum(axis=1, keepdims=True)
    return Params(dW1, db1, dW2, db2)


def sgd_step(p: Params, grad: Params, lr: float) -> None:
    """p <- p - lr dp, in place, for every block."""
    for param, dp in p.zip(grad):
        param -= lr * dp


def step(p: Params, X: np.ndarray, Y: np.ndarray, reg: float, lr: float) -> float:
    """One SGD step on a batch, in place; returns J before it."""
    fwd = forward(p, X)
    J = data_loss(fwd.z2, Y) + l2_loss(p, reg)
    sgd_step(p, backward(p, X, Y, reg, fwd), lr)
    return J


def predict(p: Params, X: np.ndarray) -> np.ndarray:
    """Predicted class of each column of X (784 x N), as int64 (N,)."""
    return np.argmax(forward(p, X).z2, axis=0)


def accuracy(p: Params, X: np.ndarray, labels: np.ndarray) -> float:
    """Fraction of columns of X whose predicted class equals labels (N,)."""
    return float(np.mean(predict(p, X) == labels))
