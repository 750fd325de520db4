"""Data parallelism: every rank holds all parameters and its share of each batch.

Each batch of B columns is split across P ranks, the first B mod P ranks taking one column
more. A rank's shares of every batch are scattered to it once, at start-up. Per step each
rank computes its part of the data-term gradient, normalised by the GLOBAL B, packs all
four blocks and its part of the loss into one buffer, and one allreduce sums them. The
lambda W term must enter that sum once: rank 0, which owns the first column of every batch,
adds it (and its 0.5 lambda ||W||^2 to the loss) before the allreduce. Every rank then applies
the same update. Bytes per step and rank: 8 (784 H + H + 10 H + 10 + 1) in float64.
"""

from __future__ import annotations

import numpy as np

from parallel import ops
from parallel.comm import Comm
from parallel.partition import part
from parallel.trainer import Trainer
from reference.data import Dataset
from reference.params import Params


class DataParallel(Trainer):
    dtype = np.dtype(np.float64)  # of the gradients and so of the MPI buffer

    def __init__(self, comm: Comm, params: Params, train: Dataset | None, batch: int,
                 lam: float, lr: float):
        n_train = comm.comm.bcast(None if train is None else len(train))
        super().__init__(comm, params, n_train, batch, lam, lr)
        self.set_params(params)
        H = params.hidden
        sizes = [784 * H, H, 10 * H, 10, 1]  # dW1, db1, dW2, db2, loss
        self.buffer = np.empty(sum(sizes), self.dtype)
        views = np.split(self.buffer, np.cumsum(sizes)[:-1])
        shapes = [(H, 784), (H, 1), (10, H), (10, 1), (1,)]
        self.dW1, self.db1, self.dW2, self.db2, self.loss = (
            v.reshape(s) for v, s in zip(views, shapes, strict=True))
        rows = None
        if comm.rank == 0:
            picks = [np.concatenate([np.arange(*self._share(t, r)) for t in
                                     range(self.n_batches)]) for r in range(comm.size)]
            rows = [np.column_stack([train.images[i], train.labels[i]]) for i in picks]
        local = comm.scatter_rows(rows)
        self.images, self.labels = local[:, :784], local[:, 784].astype(np.int64)
        counts = [self._share(t, comm.rank)[1] - self._share(t, comm.rank)[0]
                  for t in range(self.n_batches)]
        self.local_starts = np.concatenate([[0], np.cumsum(counts)])

    def _share(self, t: int, r: int) -> tuple[int, int]:
        """Global columns [lo, hi) of batch t that rank r owns."""
        start, stop = self.batch_span(t)
        s = part(stop - start, self.comm.size, r)
        return start + s.start, start + s.stop

    @property
    def gradients(self) -> tuple[np.ndarray, ...]:
        """dW1, db1, dW2, db2: views into the MPI buffer."""
        return self.dW1, self.db1, self.dW2, self.db2

    def set_params(self, p: Params) -> None:
        self.p = p.copy()

    def gather_params(self) -> Params | None:
        return self.p.copy() if self.comm.rank == 0 else None

    def normaliser(self, local: int, batch: int) -> int:
        """The data term is averaged over the whole batch, not over this rank's share."""
        return batch

    def l2_share(self) -> float:
        """This rank's multiple of lambda W in its gradient: the sum over ranks must be one."""
        return self.lam if self.comm.rank == 0 else 0.0

    def local_columns(self, t: int) -> tuple[int, int]:
        """This rank's share of batch t: rows [lo, hi) of its local data."""
        return int(self.local_starts[t]), int(self.local_starts[t + 1])

    def local_gradient(self, lo: int, hi: int, batch: int) -> None:
        """This rank's part of the gradient and of J into the buffer: the data term of its
        local rows [lo, hi) over the global batch, and its l2_share of the L2 term."""
        p, l2 = self.p, self.l2_share()
        self.buffer[:] = 0.0
        if hi > lo:  # an empty share still joins the allreduce, with zeros
            X, labels = self.images[lo:hi].T, self.labels[lo:hi]
            a1 = ops.logistic(p.W1 @ X + p.b1)
            log_p = ops.log_probabilities(p.W2 @ a1 + p.b2)
            dz2 = ops.output_delta(log_p, labels, self.normaliser(hi - lo, batch))
            np.matmul(dz2, a1.T, out=self.dW2)
            self.db2[:] = dz2.sum(axis=1, keepdims=True)
            dz1 = ops.hidden_delta(p.W2.T @ dz2, a1)
            np.matmul(dz1, X.T, out=self.dW1)
            self.db1[:] = dz1.sum(axis=1, keepdims=True)
            self.loss[0] = ops.cross_entropy_sum(log_p, labels) / batch
        if l2:
            self.dW1 += l2 * p.W1
            self.dW2 += l2 * p.W2
            self.loss[0] += 0.5 * l2 * (float(np.sum(p.W1 * p.W1)) + float(np.sum(p.W2 * p.W2)))

    def apply_update(self) -> None:
        """Every rank: p -= lr g with the summed gradient."""
        p = self.p
        for param, grad in zip((p.W1, p.b1, p.W2, p.b2), self.gradients, strict=True):
            param -= self.lr * grad

    def step(self, t: int) -> float:
        start, stop = self.batch_span(t)
        self.local_gradient(*self.local_columns(t), stop - start)
        self.comm.allreduce_sum(self.buffer, "step")
        self.apply_update()
        self.steps_taken += 1
        return float(self.loss[0])

    def logits(self, images: np.ndarray | None) -> np.ndarray | None:
        if images is None:
            return None
        p = self.p
        return p.W2 @ ops.logistic(p.W1 @ images.T + p.b1) + p.b2
