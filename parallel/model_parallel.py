"""Model parallelism: the hidden neurons are split across ranks, every rank sees every image.

Rank r owns rows h_r of W1 and b1 and the matching columns of W2 (the first H mod P ranks
own one neuron more); b2 is replicated. The training set is broadcast once. Forward: each
rank computes its a1 rows and its partial z2 = W2[:, h_r] a1[h_r]; one allreduce of the
10 x B partial sums (with this rank's share of ||W||^2 packed behind them, for the loss)
gives z2 everywhere. Backward needs no communication: dz2 is known on every rank, and every
rank's gradient blocks are its own. Bytes per step and rank: (10 B + 1) in the network's
dtype.
"""

from __future__ import annotations

import numpy as np

from ..common.data import Dataset
from ..common.params import Params
from ..common.shapes import N_CLASSES, N_PIXELS
from .comm import Comm
from .host import HostNetwork
from .partition import counts, part
from .trainer import NetworkFactory, Trainer


class ModelParallel(Trainer):
    def __init__(self, comm: Comm, params: Params, train: Dataset | None, batch: int,
                 reg: float, lr: float, network: NetworkFactory = HostNetwork):
        images = comm.bcast_array(None if train is None else train.images)
        labels = comm.bcast_array(None if train is None else train.labels)
        super().__init__(comm, params.hidden, len(labels), batch, reg, lr)
        self.rows = part(params.hidden, comm.size, comm.rank)
        self.net = network(self.local(params))
        self.X, self.y = self.net.load(images, labels)

    def local(self, p: Params) -> Params:
        """This rank's rows of W1 and b1, columns of W2, and b2 (copies)."""
        r = self.rows
        return Params(p.W1[r].copy(), p.b1[r].copy(), p.W2[:, r].copy(), p.b2.copy())

    def set_params(self, p: Params) -> None:
        self.net.set_params(self.local(p))

    def gather_params(self) -> Params | None:
        mine = self.net.params()
        local = np.hstack([mine.W1, mine.b1, mine.W2.T])  # h_r x (784 + 1 + 10)
        full = self.comm.gather_rows(local, counts(self.hidden, self.comm.size).tolist())
        if full is None:
            return None
        return Params(full[:, :N_PIXELS].copy(), full[:, N_PIXELS:N_PIXELS + 1].copy(),
                      full[:, N_PIXELS + 1:].T.copy(), mine.b2.copy())

    def reduce_partial(self, partial: np.ndarray, squares: float,
                       kind: str) -> tuple[np.ndarray, float]:
        """Sum this rank's W2[:, h_r] a1[h_r] (10 x B) and ||W1_r||^2 + ||W2_r||^2 over the
        ranks, in one allreduce: (z2 without b2, ||W1||^2 + ||W2||^2)."""
        B = partial.shape[1]
        buffer = np.empty(N_CLASSES * B + 1, self.net.dtype)
        buffer[:-1].reshape(N_CLASSES, B)[...] = partial
        buffer[-1] = squares
        self.comm.allreduce_sum(buffer, kind)
        return buffer[:-1].reshape(N_CLASSES, B), float(buffer[-1])

    def reduce_gradients(self) -> None:
        """Nothing to sum: every gradient block is this rank's own, and db2 = rowsum(dz2) is
        complete on every rank, since dz2 is."""

    def step(self, t: int) -> float:
        start, stop = self.batch_span(t)
        X, y, B = self.X[start:stop], self.y[start:stop], stop - start
        self.net.forward(X, with_b2=False)
        z2, squares = self.reduce_partial(self.net.z2(), self.net.squares(), "step")
        self.net.set_z2(z2)
        data = self.net.backward(X, y, B, self.reg)
        self.reduce_gradients()
        self.net.update(self.lr)
        self.steps_taken += 1
        return data / B + 0.5 * self.reg * squares

    def logits(self, images: np.ndarray | None) -> np.ndarray | None:
        X, _ = self.net.load(self.comm.bcast_array(images))
        self.net.forward(X, with_b2=False)
        z2, _ = self.reduce_partial(self.net.z2(), 0.0, "evaluate")
        self.net.set_z2(z2)
        return self.net.z2() if self.comm.rank == 0 else None
