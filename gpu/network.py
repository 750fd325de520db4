"""The network on the device: parameters, data and workspace stay there; only metrics (the
loss, a count of correct answers) come back to the host.

One SGD step on a batch X (B x 784 rows on the device, used as its transpose):

    Z1 = W1 X^T + b1      A1 = sigmoid(Z1)      Z2 = W2 A1 + b2      Yhat = softmax(Z2)
    dZ2 = (Yhat - Y) / B
    dW2 = dZ2 A1^T + lambda W2     (GEMM with beta = lambda on a copy of W2)
    dA1 = W2^T dZ2       dZ1 = dA1 * A1 * (1 - A1)
    dW1 = dZ1 X + lambda W1        (GEMM with beta = lambda on a copy of W1)
    db = row sums, then p -= lr dp for every block
"""

from __future__ import annotations

import numpy as np
from numba import cuda

from gpu.gemm import gemm
from gpu.kernels import kernels, launch
from reference.params import Params


class DeviceNetwork:
    def __init__(self, params: Params, dtype, algorithm: str = "regblock"):
        self.dtype = np.dtype(dtype)
        self.algorithm = algorithm
        self.k = kernels(self.dtype)
        self.hidden = params.hidden
        self.set_params(params)
        self._work: dict[int, dict] = {}

    def set_params(self, p: Params) -> None:
        self.W1, self.b1, self.W2, self.b2 = (cuda.to_device(np.ascontiguousarray(
            a, dtype=self.dtype)) for a in p.blocks().values())

    def params(self) -> Params:
        return Params(*(a.copy_to_host().astype(np.float64)
                        for a in (self.W1, self.b1, self.W2, self.b2)))

    def to_device(self, images: np.ndarray, labels: np.ndarray):
        """A data set's images (N x 784) and labels (N,), once."""
        return (cuda.to_device(np.ascontiguousarray(images, dtype=self.dtype)),
                cuda.to_device(np.ascontiguousarray(labels, dtype=np.int64)))

    def _workspace(self, B: int) -> dict:
        if B not in self._work:
            H, t = self.hidden, self.dtype
            shapes = dict(Z1=(H, B), A1=(H, B), Z2=(10, B), Yhat=(10, B), dZ2=(10, B),
                          dA1=(H, B), dZ1=(H, B), dW1=(H, 784), db1=(H, 1), dW2=(10, H),
                          db2=(10, 1))
            self._work[B] = {n: cuda.device_array(s, t) for n, s in shapes.items()}
            self._work[B]["sums"] = cuda.device_array(2, t)
        return self._work[B]

    def _run(self, name: str, n: int, *args) -> None:
        self.k[name][launch(n)](*args)

    def forward(self, X, w: dict) -> None:
        """Z1, A1, Z2 of the workspace for X (B x 784 on the device)."""
        gemm(w["Z1"], self.W1, X, trans_b=True, algorithm=self.algorithm)
        self._run("add_bias", w["Z1"].size, w["Z1"], self.b1)
        self._run("sigmoid", w["Z1"].size, w["Z1"], w["A1"])
        gemm(w["Z2"], self.W2, w["A1"], algorithm=self.algorithm)
        self._run("add_bias", w["Z2"].size, w["Z2"], self.b2)

    def step(self, X, labels, lam: float, lr: float) -> float:
        """One SGD step on X (B x 784) and labels (B,) on the device; returns J before it."""
        B = X.shape[0]
        w, t = self._workspace(B), self.dtype.type
        self.forward(X, w)
        self._run("softmax", B, w["Z2"], w["Yhat"])
        sums = w["sums"]
        sums.copy_to_device(np.zeros(2, self.dtype))
        self._run("cross_entropy", B, w["Z2"], labels, sums[0:1])
        self._run("sum_squares", self.W1.size, self.W1, sums[1:2])
        self._run("sum_squares", self.W2.size, self.W2, sums[1:2])
        self._run("output_delta", w["Yhat"].size, w["Yhat"], labels, t(B), w["dZ2"])
        w["dW2"].copy_to_device(self.W2)
        gemm(w["dW2"], w["dZ2"], w["A1"], 1.0, lam, trans_b=True, algorithm=self.algorithm)
        self._run("row_sums", 10, w["dZ2"], w["db2"])
        gemm(w["dA1"], self.W2, w["dZ2"], trans_a=True, algorithm=self.algorithm)
        self._run("sigmoid_delta", w["dA1"].size, w["dA1"], w["A1"], w["dZ1"])
        w["dW1"].copy_to_device(self.W1)
        gemm(w["dW1"], w["dZ1"], X, 1.0, lam, algorithm=self.algorithm)
        self._run("row_sums", self.hidden, w["dZ1"], w["db1"])
        for p, g in ((self.W1, w["dW1"]), (self.b1, w["db1"]), (self.W2, w["dW2"]),
                     (self.b2, w["db2"])):
            self._run("sgd", p.size, p, g, t(lr))
        data, squares = sums.copy_to_host().astype(np.float64)  # the only transfer back
        return data / B + 0.5 * lam * squares

    def correct(self, images, labels) -> int:
        """How many of a device data set's images are classified right."""
        w = self._workspace(images.shape[0])
        self.forward(images, w)
        count = cuda.to_device(np.zeros(1, np.int64))
        self._run("count_correct", images.shape[0], w["Z2"], labels, count)
        return int(count.copy_to_host()[0])
