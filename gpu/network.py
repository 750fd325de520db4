"""The network on the device: parameters, data and workspace stay there; only metrics (the
loss terms, a count of correct answers) come back to the host.

One SGD step on a batch X (B x 784 rows on the device, used as its transpose), in phases that
the MPI trainers (parallel/device.py) also call one by one:

    forward     Z1 = W1 X^T + b1      A1 = sigmoid(Z1)      Z2 = W2 A1 + b2
    backward    Yhat = softmax(Z2)    dZ2 = (Yhat - Y) / N  (N the normaliser: B here)
                dW2 = dZ2 A1^T + lambda W2     (GEMM with beta = lambda on a copy of W2)
                dA1 = W2^T dZ2       dZ1 = dA1 * A1 * (1 - A1)
                dW1 = dZ1 X + lambda W1        (GEMM with beta = lambda on a copy of W1)
                db = row sums
    update      p -= lr dp for every block
"""

from __future__ import annotations

import numpy as np
from numba import cuda

from gpu.gemm import gemm
from gpu.kernels import kernels, launch, launch_reduction
from reference.params import Params

GRADIENTS = ("dW1", "db1", "dW2", "db2")


class DeviceNetwork:
    def __init__(self, params: Params, dtype, algorithm: str = "regblock"):
        self.dtype = np.dtype(dtype)
        self.algorithm = algorithm
        self.k = kernels(self.dtype)
        self.hidden = params.hidden
        self.set_params(params)
        self.grads = {name: cuda.device_array(getattr(params, name[1:]).shape, self.dtype)
                      for name in GRADIENTS}
        self._zeros = np.zeros(1, self.dtype)
        self._work: dict[int, dict] = {}

    def set_params(self, p: Params) -> None:
        self.W1, self.b1, self.W2, self.b2 = (cuda.to_device(np.ascontiguousarray(
            a, dtype=self.dtype)) for a in p.blocks().values())

    def params(self) -> Params:
        return Params(*(a.copy_to_host().astype(np.float64)
                        for a in (self.W1, self.b1, self.W2, self.b2)))

    def to_device(self, images: np.ndarray, labels: np.ndarray | None = None):
        """A data set's images (N x 784) and labels (N,), once."""
        return (cuda.to_device(np.ascontiguousarray(images, dtype=self.dtype)),
                None if labels is None else
                cuda.to_device(np.ascontiguousarray(labels, dtype=np.int64)))

    def workspace(self, B: int) -> dict:
        """Activations and deltas for a batch of B, allocated once per batch size."""
        if B not in self._work:
            H, t = self.hidden, self.dtype
            shapes = dict(Z1=(H, B), A1=(H, B), Z2=(10, B), Yhat=(10, B), dZ2=(10, B),
                          dA1=(H, B), dZ1=(H, B))
            self._work[B] = {n: cuda.device_array(s, t) for n, s in shapes.items()}
            sums = cuda.device_array(2, t)  # one transfer back per step brings both
            self._work[B].update(sums=sums, loss=sums[0:1], squares=sums[1:2])
        return self._work[B]

    def _run(self, name: str, n: int, *args) -> None:
        self.k[name][launch(n)](*args)

    def _zero(self, scalar) -> None:
        scalar.copy_to_device(self._zeros)

    def forward(self, X, w: dict, with_b2: bool = True) -> None:
        """Z1, A1, Z2 of the workspace for X (B x 784 on the device); without b2, Z2 is
        W2 A1 alone (a model-parallel rank's partial sum)."""
        gemm(w["Z1"], self.W1, X, trans_b=True, algorithm=self.algorithm)
        self._run("add_bias", w["Z1"].size, w["Z1"], self.b1)
        self._run("sigmoid", w["Z1"].size, w["Z1"], w["A1"])
        gemm(w["Z2"], self.W2, w["A1"], algorithm=self.algorithm)
        if with_b2:
            self.add_b2(w)

    def add_b2(self, w: dict) -> None:
        self._run("add_bias", w["Z2"].size, w["Z2"], self.b2)

    def squares(self, w: dict) -> None:
        """w["squares"] = ||W1||^2 + ||W2||^2 of the current parameters."""
        self._zero(w["squares"])
        for W in (self.W1, self.W2):
            self.k["sum_squares"][launch_reduction(W.size)](W, w["squares"])

    def backward(self, X, labels, w: dict, normaliser: int, lam: float) -> None:
        """From the complete Z2 of w: w["loss"] = sum_i -log Yhat[y_i, i], and the
        gradients (data term over normaliser, plus lam W) into self.grads."""
        g, t = self.grads, self.dtype.type
        self._run("softmax", w["Z2"].shape[1], w["Z2"], w["Yhat"])
        self._zero(w["loss"])
        self._run("cross_entropy", w["Z2"].shape[1], w["Z2"], labels, w["loss"])
        self._run("output_delta", w["Yhat"].size, w["Yhat"], labels, t(normaliser), w["dZ2"])
        if lam:  # beta = 0 never reads C, so the copy is needed only for the L2 term
            g["dW2"].copy_to_device(self.W2)
            g["dW1"].copy_to_device(self.W1)
        gemm(g["dW2"], w["dZ2"], w["A1"], 1.0, lam, trans_b=True, algorithm=self.algorithm)
        self._run("row_sums", 10, w["dZ2"], g["db2"])
        gemm(w["dA1"], self.W2, w["dZ2"], trans_a=True, algorithm=self.algorithm)
        self._run("sigmoid_delta", w["dA1"].size, w["dA1"], w["A1"], w["dZ1"])
        gemm(g["dW1"], w["dZ1"], X, 1.0, lam, algorithm=self.algorithm)
        self._run("row_sums", self.hidden, w["dZ1"], g["db1"])

    def update(self, lr: float) -> None:
        """p -= lr dp for every block, from self.grads."""
        for p, name in zip((self.W1, self.b1, self.W2, self.b2), GRADIENTS, strict=True):
            self._run("sgd", p.size, p, self.grads[name], self.dtype.type(lr))

    def step(self, X, labels, lam: float, lr: float) -> float:
        """One SGD step on X (B x 784) and labels (B,) on the device; returns J before it."""
        B = X.shape[0]
        w = self.workspace(B)
        self.forward(X, w)
        self.squares(w)
        self.backward(X, labels, w, B, lam)
        self.update(lr)
        data, squares = w["sums"].copy_to_host().astype(np.float64)
        return data / B + 0.5 * lam * squares

    def correct(self, images, labels) -> int:
        """How many of a device data set's images are classified right."""
        w = self.workspace(images.shape[0])
        self.forward(images, w)
        count = cuda.to_device(np.zeros(1, np.int64))
        self._run("count_correct", images.shape[0], w["Z2"], labels, count)
        return int(count.copy_to_host()[0])
