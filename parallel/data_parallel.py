"""Data parallelism: every rank holds all parameters and its share of each batch.

Each batch of B columns is split across P ranks, the first B mod P ranks taking one column
more. A rank's shares of every batch are scattered to it once, at start-up. Per step each
rank computes its part of the data-term gradient, normalised by the GLOBAL B, into one buffer
that packs all four blocks and its part of the loss, and one allreduce sums them. The lambda W
term must enter that sum once: rank 0, which owns the first column of every batch, adds it
(and its 0.5 lambda ||W||^2 to the loss) before the allreduce. Every rank then applies the
same update. Bytes per step and rank: (784 H + H + 10 H + 10 + 1) in the network's dtype.
"""

from __future__ import annotations

import numpy as np

from ..common.data import Dataset
from ..common.params import Params
from ..common.shapes import N_PIXELS, n_parameters, param_shapes
from .comm import Comm
from .host import HostNetwork
from .partition import part
from .trainer import NetworkFactory, Trainer


class DataParallel(Trainer):
    def __init__(self, comm: Comm, params: Params, train: Dataset | None, batch: int,
                 reg: float, lr: float, network: NetworkFactory = HostNetwork):
        n_train = comm.bcast(None if train is None else len(train))
        super().__init__(comm, params.hidden, n_train, batch, reg, lr)
        self.net = network(params)
        # The MPI buffer, in the network's dtype: dW1, db1, dW2, db2 and the loss, packed.
        self.buffer = np.empty(n_parameters(params.hidden) + 1, self.net.dtype)
        shapes = list(param_shapes(params.hidden).values())
        views = np.split(self.buffer, np.cumsum([np.prod(s) for s in shapes]))
        self.grads = Params(*(v.reshape(s) for v, s in zip(views[:-1], shapes, strict=True)))
        self.loss = views[-1]
        rows = None
        if comm.rank == 0:
            picks = [np.concatenate([np.arange(*self._share(t, r)) for t in
                                     range(self.n_batches)]) for r in range(comm.size)]
            rows = [np.column_stack([train.images[i], train.labels[i]]) for i in picks]
        local = comm.scatter_rows(rows)
        self.X, self.y = self.net.load(local[:, :N_PIXELS], local[:, N_PIXELS].astype(np.int64))
        counts = [self._share(t, comm.rank)[1] - self._share(t, comm.rank)[0]
                  for t in range(self.n_batches)]
        self.local_starts = np.concatenate([[0], np.cumsum(counts)])

    def _share(self, t: int, r: int) -> tuple[int, int]:
        """Global columns [lo, hi) of batch t that rank r owns."""
        start, stop = self.batch_span(t)
        s = part(stop - start, self.comm.size, r)
        return start + s.start, start + s.stop

    def set_params(self, p: Params) -> None:
        self.net.set_params(p)

    def gather_params(self) -> Params | None:
        return self.net.params() if self.comm.rank == 0 else None

    def normaliser(self, local: int, batch: int) -> int:
        """The data term is averaged over the whole batch, not over this rank's share."""
        return batch

    def l2_share(self) -> float:
        """This rank's multiple of lambda W in its gradient: the sum over ranks must be one."""
        return self.reg if self.comm.rank == 0 else 0.0

    def local_columns(self, t: int) -> tuple[int, int]:
        """This rank's share of batch t: rows [lo, hi) of its local data."""
        return int(self.local_starts[t]), int(self.local_starts[t + 1])

    def local_gradient(self, lo: int, hi: int, batch: int) -> None:
        """This rank's part of the gradient and of J into the buffer: the data term of its
        local rows [lo, hi) over the global batch, and its l2_share of the L2 term."""
        l2 = self.l2_share()
        if hi > lo:
            X, y = self.X[lo:hi], self.y[lo:hi]
            self.net.forward(X)
            data = self.net.backward(X, y, self.normaliser(hi - lo, batch), l2, out=self.grads)
        else:  # an empty share still joins the allreduce: zeros, and its share of lambda W
            self.buffer[:] = 0.0
            data = 0.0
            if l2:
                p = self.net.params()
                self.grads.W1[...] = l2 * p.W1
                self.grads.W2[...] = l2 * p.W2
        self.loss[0] = data / batch + (0.5 * l2 * self.net.squares() if l2 else 0.0)

    def apply_update(self) -> None:
        """Every rank: p -= lr g with the summed gradient."""
        self.net.update(self.lr, self.grads)

    def step(self, t: int) -> float:
        start, stop = self.batch_span(t)
        self.local_gradient(*self.local_columns(t), stop - start)
        self.comm.allreduce_sum(self.buffer, "step")
        self.apply_update()
        self.steps_taken += 1
        return float(self.loss[0])

    def logits(self, images: np.ndarray | None) -> np.ndarray | None:
        """Rank 0 has every parameter: it evaluates alone."""
        if images is None:
            return None
        X, _ = self.net.load(images)
        self.net.forward(X)
        return self.net.z2()
