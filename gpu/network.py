"""The network on the device: parameters, gradients, data and workspace stay there; only
metrics (the loss terms, a count of correct answers) come back to the host.

One SGD step on a batch X (B x 784 rows on the device, used as its transpose), in phases that
the MPI trainers (parallel/) also call one by one:

    forward     Z1 = W1 X^T + b1      A1 = sigmoid(Z1)      Z2 = W2 A1 + b2
    backward    Yhat = softmax(Z2)    dZ2 = (Yhat - Y) / N  (N the normaliser: B here)
                dW2 = dZ2 A1^T + lambda W2     (GEMM with beta = lambda on a copy of W2)
                dA1 = W2^T dZ2       dZ1 = dA1 * A1 * (1 - A1)
                dW1 = dZ1 X + lambda W1        (GEMM with beta = lambda on a copy of W1)
                db = row sums
    update      p -= lr dp for every block
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
from numba import cuda

from ..common.params import Params
from ..common.shapes import N_CLASSES
from .gemm import gemm
from .kernels import kernels, launch, launch_reduction


@dataclass
class Workspace:
    """Device arrays for a batch of B images, in the network's dtype: activations and deltas
    (H x B or 10 x B)."""

    Z1: object
    A1: object
    Z2: object
    Yhat: object
    dZ2: object
    dA1: object
    dZ1: object

    @classmethod
    def allocate(cls, hidden: int, B: int, dtype: np.dtype) -> Workspace:
        shapes = dict(Z1=(hidden, B), A1=(hidden, B), Z2=(N_CLASSES, B), Yhat=(N_CLASSES, B),
                      dZ2=(N_CLASSES, B), dA1=(hidden, B), dZ1=(hidden, B))
        return cls(**{f.name: cuda.device_array(shapes[f.name], dtype) for f in fields(cls)})


class DeviceNetwork:
    """One network (or one MPI rank's share of it) on the device.

    At construction it copies the parameters up in `dtype` and allocates the gradients; each
    phase launches kernels on the workspace of the current batch size, kept from the last
    forward. The GEMMs use `algorithm` (gpu/gemm_kernels.py).
    """

    def __init__(self, params: Params, dtype, algorithm: str = "regblock"):
        self.dtype = np.dtype(dtype)
        self.algorithm = algorithm
        self.k = kernels(self.dtype)
        self.hidden = params.hidden
        self.set_params(params)
        self.grads = params.map(lambda a: cuda.device_array(a.shape, self.dtype))
        self.sums = cuda.device_array(2, self.dtype)  # one transfer back brings both
        self.loss, self.squares_sum = self.sums[0:1], self.sums[1:2]
        self._zeros = np.zeros(1, self.dtype)
        self._work: dict[int, Workspace] = {}
        self.work: Workspace | None = None

    def set_params(self, p: Params) -> None:
        self.W1, self.b1, self.W2, self.b2 = (cuda.to_device(np.ascontiguousarray(
            a, dtype=self.dtype)) for a in p.blocks().values())

    def params(self) -> Params:
        """The parameters, copied to the host as float64."""
        return Params(*(a.copy_to_host().astype(np.float64)
                        for a in (self.W1, self.b1, self.W2, self.b2)))

    def load(self, images: np.ndarray, labels: np.ndarray | None = None):
        """A data set's images (N x 784) and labels (N,) on the device, once."""
        return (cuda.to_device(np.ascontiguousarray(images, dtype=self.dtype)),
                None if labels is None else
                cuda.to_device(np.ascontiguousarray(labels, dtype=np.int64)))

    def workspace(self, B: int) -> Workspace:
        """The workspace for a batch of B, allocated once per batch size."""
        if B not in self._work:
            self._work[B] = Workspace.allocate(self.hidden, B, self.dtype)
        return self._work[B]

    def _run(self, name: str, n: int, *args) -> None:
        self.k[name][launch(n)](*args)

    def _zero(self, scalar) -> None:
        scalar.copy_to_device(self._zeros)

    def forward(self, X, with_b2: bool = True) -> None:
        """Z1, A1, Z2 for X (B x 784 on the device); without b2, Z2 is W2 A1 alone (a
        model-parallel rank's partial sum)."""
        w = self.work = self.workspace(X.shape[0])
        gemm(w.Z1, self.W1, X, trans_b=True, algorithm=self.algorithm)
        self._run("add_bias", w.Z1.size, w.Z1, self.b1)
        self._run("sigmoid", w.Z1.size, w.Z1, w.A1)
        gemm(w.Z2, self.W2, w.A1, algorithm=self.algorithm)
        if with_b2:
            self._run("add_bias", w.Z2.size, w.Z2, self.b2)

    def z2(self) -> np.ndarray:
        """The last forward's Z2 (10 x B), on the host in the network's dtype."""
        return self.work.Z2.copy_to_host()

    def set_z2(self, z2: np.ndarray) -> None:
        """Replace the last forward's Z2 by z2 + b2 (z2: 10 x B, the sum over the ranks)."""
        self.work.Z2.copy_to_device(np.ascontiguousarray(z2, dtype=self.dtype))
        self._run("add_bias", self.work.Z2.size, self.work.Z2, self.b2)

    def _squares(self) -> None:
        self._zero(self.squares_sum)
        for W in (self.W1, self.W2):
            self.k["sum_squares"][launch_reduction(W.size)](W, self.squares_sum)

    def squares(self) -> float:
        """||W1||^2 + ||W2||^2 of the parameters held here."""
        self._squares()
        return float(self.squares_sum.copy_to_host()[0])

    def _backward(self, X, labels, normaliser: int, reg: float) -> None:
        w, g, t = self.work, self.grads, self.dtype.type
        self._run("softmax", w.Z2.shape[1], w.Z2, w.Yhat)
        self._zero(self.loss)
        self._run("cross_entropy", w.Z2.shape[1], w.Z2, labels, self.loss)
        self._run("output_delta", w.Yhat.size, w.Yhat, labels, t(normaliser), w.dZ2)
        if reg:  # beta = 0 never reads C, so the copy is needed only for the L2 term
            g.W2.copy_to_device(self.W2)
            g.W1.copy_to_device(self.W1)
        gemm(g.W2, w.dZ2, w.A1, 1.0, reg, trans_b=True, algorithm=self.algorithm)
        self._run("row_sums", N_CLASSES, w.dZ2, g.b2)
        gemm(w.dA1, self.W2, w.dZ2, trans_a=True, algorithm=self.algorithm)
        self._run("sigmoid_delta", w.dA1.size, w.dA1, w.A1, w.dZ1)
        gemm(g.W1, w.dZ1, X, 1.0, reg, algorithm=self.algorithm)
        self._run("row_sums", self.hidden, w.dZ1, g.b1)

    def backward(self, X, labels, normaliser: int, reg: float, out: Params | None = None
                 ) -> float:
        """From the last forward's complete Z2: the gradients (data term over normaliser,
        plus reg W) into self.grads, and into out's host arrays when given; returns
        sum_i -log Yhat[y_i, i]."""
        self._backward(X, labels, normaliser, reg)
        if out is not None:
            for grad, host in self.grads.zip(out):
                grad.copy_to_host(host)
        return float(self.loss.copy_to_host()[0])

    def update(self, lr: float, grads: Params | None = None) -> None:
        """p -= lr dp for every block, from self.grads, or from grads (host arrays) when
        given."""
        if grads is not None:
            for grad, host in self.grads.zip(grads):
                grad.copy_to_device(host)
        for p, grad in zip((self.W1, self.b1, self.W2, self.b2), self.grads.blocks().values(),
                           strict=True):
            self._run("sgd", p.size, p, grad, self.dtype.type(lr))

    def step(self, X, labels, reg: float, lr: float) -> float:
        """One SGD step on X (B x 784) and labels (B,) on the device; returns J before it.
        One transfer back per step brings both loss terms."""
        B = X.shape[0]
        self.forward(X)
        self._squares()
        self._backward(X, labels, B, reg)
        self.update(lr)
        data, squares = self.sums.copy_to_host().astype(np.float64)
        return data / B + 0.5 * reg * squares

    def correct(self, images, labels) -> int:
        """How many of a device data set's images are classified right."""
        self.forward(images)
        count = cuda.to_device(np.zeros(1, np.int64))
        self._run("count_correct", images.shape[0], self.work.Z2, labels, count)
        return int(count.copy_to_host()[0])
