"""One rank's share of the network in numpy float64, written apart from the oracle.

The oracle (reference/network.py) must not share numerical code with what it judges, so
these are this package's own formulas for the same equations (SPEC section 1). HostNetwork
has the phases of trainer.LocalNetwork, as gpu.network.DeviceNetwork has on the device.
"""

from __future__ import annotations

import numpy as np

from ..common.params import Params


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


def output_delta(log_p: np.ndarray, labels: np.ndarray, normaliser: int) -> np.ndarray:
    """dz2 = (softmax - onehot) / normaliser for the local columns; the normaliser is the
    GLOBAL batch size."""
    delta = np.exp(log_p)
    delta[labels, np.arange(labels.size)] -= 1.0
    delta /= normaliser
    return delta


def hidden_delta(da1: np.ndarray, a1: np.ndarray) -> np.ndarray:
    """dz1 = da1 * sigmoid'(z1) = da1 * a1 * (1 - a1)."""
    return da1 * a1 * (1.0 - a1)


class HostNetwork:
    """Parameters (this rank's share, float64), the last forward's activations, and the
    gradients of the last backward, in host memory. Images are rows (B x 784), used as their
    transpose."""

    dtype = np.dtype(np.float64)

    def __init__(self, params: Params):
        self.set_params(params)
        self.grads = self.last = params.map(np.empty_like)

    def set_params(self, p: Params) -> None:
        self.p = p.copy()

    def params(self) -> Params:
        return self.p.copy()

    def load(self, images: np.ndarray, labels: np.ndarray | None = None):
        """Data stay where they are."""
        return images, labels

    def forward(self, X: np.ndarray, with_b2: bool = True) -> None:
        """a1 and z2 for the rows of X; without b2, z2 is W2 a1 alone (a partial sum)."""
        p = self.p
        self.a1 = logistic(p.W1 @ X.T + p.b1)
        self._z2 = p.W2 @ self.a1 + p.b2 if with_b2 else p.W2 @ self.a1

    def z2(self) -> np.ndarray:
        return self._z2.copy()

    def set_z2(self, z2: np.ndarray) -> None:
        self._z2 = z2 + self.p.b2

    def squares(self) -> float:
        p = self.p
        return float(np.sum(p.W1 * p.W1)) + float(np.sum(p.W2 * p.W2))

    def backward(self, X: np.ndarray, labels: np.ndarray, normaliser: int, reg: float,
                 out: Params | None = None) -> float:
        """Gradients (data term over normaliser, plus reg W) into out, or self.grads;
        returns sum_i -log yhat[y_i, i] over the rows of X."""
        p, g = self.p, self.grads if out is None else out
        log_p = log_probabilities(self._z2)
        dz2 = output_delta(log_p, labels, normaliser)
        np.matmul(dz2, self.a1.T, out=g.W2)
        g.b2[...] = dz2.sum(axis=1, keepdims=True)
        dz1 = hidden_delta(p.W2.T @ dz2, self.a1)
        np.matmul(dz1, X, out=g.W1)
        g.b1[...] = dz1.sum(axis=1, keepdims=True)
        if reg:
            g.W1 += reg * p.W1
            g.W2 += reg * p.W2
        self.last = g
        return cross_entropy_sum(log_p, labels)

    def update(self, lr: float, grads: Params | None = None) -> None:
        """p -= lr g, with the last backward's gradients or with grads."""
        for param, grad in self.p.zip(self.last if grads is None else grads):
            param -= lr * grad
