"""Both strategies computing with the GPU kernels (`--gpu`): gpu/network.py's phases on each
rank's device, MPI on the host.

The split of the work, the batch schedule and what is summed are the numpy trainers' own;
only the arithmetic moves to the device. The MPI buffers have the device's dtype (float32
halves the bytes). Without a CUDA-aware MPI the buffers travel through host memory: per step,
data parallelism brings the packed gradient down, sums it and sends it back up; model
parallelism does the same with the 10 x B partial logits. Data and parameters otherwise stay
on the device.
"""

from __future__ import annotations

import numpy as np

from gpu.network import GRADIENTS, DeviceNetwork
from parallel.comm import Comm
from parallel.data_parallel import DataParallel
from parallel.model_parallel import ModelParallel
from reference.data import Dataset
from reference.params import Params


class DeviceDataParallel(DataParallel):
    def __init__(self, comm: Comm, params: Params, train: Dataset | None, batch: int,
                 lam: float, lr: float, dtype=np.float32, algorithm: str = "regblock"):
        self.net = DeviceNetwork(params, dtype, algorithm)
        self.dtype = self.net.dtype
        super().__init__(comm, params, train, batch, lam, lr)
        self.X, self.y = self.net.to_device(self.images, self.labels)

    def set_params(self, p: Params) -> None:
        self.net.set_params(p)

    def gather_params(self) -> Params | None:
        return self.net.params() if self.comm.rank == 0 else None

    def local_gradient(self, lo: int, hi: int, batch: int) -> None:
        """As the numpy trainer's, on the device; rank 0, the one with an L2 share, never
        has an empty share."""
        net, l2 = self.net, self.l2_share()
        if hi == lo:
            self.buffer[:] = 0.0
            return
        X, y, w = self.X[lo:hi], self.y[lo:hi], net.workspace(hi - lo)
        net.forward(X, w)
        if l2:
            net.squares(w)
        net.backward(X, y, w, self.normaliser(hi - lo, batch), l2)
        for name, view in zip(GRADIENTS, self.gradients, strict=True):
            net.grads[name].copy_to_host(view)
        loss, squares = w["sums"].copy_to_host()
        self.loss[0] = loss / batch + (0.5 * l2 * squares if l2 else 0.0)

    def apply_update(self) -> None:
        for name, view in zip(GRADIENTS, self.gradients, strict=True):
            self.net.grads[name].copy_to_device(view)
        self.net.update(self.lr)

    def logits(self, images: np.ndarray | None) -> np.ndarray | None:
        if images is None:
            return None
        X, _ = self.net.to_device(images)
        w = self.net.workspace(len(images))
        self.net.forward(X, w)
        return w["Z2"].copy_to_host().astype(np.float64)


class DeviceModelParallel(ModelParallel):
    def __init__(self, comm: Comm, params: Params, train: Dataset | None, batch: int,
                 lam: float, lr: float, dtype=np.float32, algorithm: str = "regblock"):
        self.dtype, self.algorithm = np.dtype(dtype), algorithm
        self.net: DeviceNetwork | None = None
        super().__init__(comm, params, train, batch, lam, lr)
        self.X, self.y = self.net.to_device(self.images, self.labels)

    def set_params(self, p: Params) -> None:
        super().set_params(p)  # this rank's rows, staged on the host, then sent up
        if self.net is None:
            self.net = DeviceNetwork(super().local_params(), self.dtype, self.algorithm)
        else:
            self.net.set_params(super().local_params())

    def local_params(self) -> Params:
        return self.net.params()

    def _partial(self, X, w, kind: str) -> tuple[np.ndarray, float]:
        """Forward without b2 on the device; z2 and ||W||^2 summed over the ranks."""
        self.net.forward(X, w, with_b2=False)
        self.net.squares(w)
        squares = w["squares"].copy_to_host()[0]
        return self.reduce_partial(w["Z2"].copy_to_host(), squares, kind)

    def step(self, t: int) -> float:
        start, stop = self.batch_span(t)
        B, net = stop - start, self.net
        X, y, w = self.X[start:stop], self.y[start:stop], net.workspace(stop - start)
        z2, squares = self._partial(X, w, "step")
        w["Z2"].copy_to_device(z2)
        net.add_b2(w)
        net.backward(X, y, w, B, self.lam)
        net.update(self.lr)
        self.steps_taken += 1
        return float(w["loss"].copy_to_host()[0]) / B + 0.5 * self.lam * squares

    def logits(self, images: np.ndarray | None) -> np.ndarray | None:
        images = self.comm.bcast_array(images)
        X, _ = self.net.to_device(images)
        z2, _ = self._partial(X, self.net.workspace(len(images)), "evaluate")
        return z2 + self.net.b2.copy_to_host() if self.comm.rank == 0 else None


ON_DEVICE = {"data": DeviceDataParallel, "model": DeviceModelParallel}
