"""Data parallelism: every rank holds all parameters and its share of each batch.

Each batch of B columns is split across P ranks, the first B mod P ranks taking one column
more. A rank's shares of every batch are scattered to it once, at start-up. Per step each
rank computes its part of the data-term gradient, normalised by the GLOBAL B, packs all
four blocks and its part of the loss into one buffer, and one allreduce sums them. The
lambda W term is then added once (after the sum, never per rank) and every rank applies the
same update. Bytes per step and rank: 8 (784 H + H + 10 H + 10 + 1).
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
    def __init__(self, comm: Comm, params: Params, train: Dataset | None, batch: int,
                 lam: float, lr: float):
        n_train = comm.comm.bcast(None if train is None else len(train))
        super().__init__(comm, params, n_train, batch, lam, lr)
        self.set_params(params)
        H = params.hidden
        sizes = [784 * H, H, 10 * H, 10, 1]  # dW1, db1, dW2, db2, data loss
        self.buffer = np.empty(sum(sizes))
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

    def set_params(self, p: Params) -> None:
        self.p = p.copy()

    def gather_params(self) -> Params | None:
        return self.p.copy() if self.comm.rank == 0 else None

    def normaliser(self, local: int, batch: int) -> int:
        """The data term is averaged over the whole batch, not over this rank's share."""
        return batch

    def local_columns(self, t: int) -> tuple[np.ndarray, np.ndarray]:
        """This rank's share of batch t: X (784 x b_r) and labels (b_r,)."""
        lo, hi = self.local_starts[t], self.local_starts[t + 1]
        return self.images[lo:hi].T, self.labels[lo:hi]

    def local_gradient(self, X: np.ndarray, labels: np.ndarray, batch: int) -> None:
        """Data-term gradient of this rank's columns into the buffer, and its loss share."""
        p = self.p
        self.buffer[:] = 0.0
        if labels.size == 0:  # an empty share still joins the allreduce, with zeros
            return
        a1 = ops.logistic(p.W1 @ X + p.b1)
        log_p = ops.log_probabilities(p.W2 @ a1 + p.b2)
        dz2 = ops.output_delta(log_p, labels, self.normaliser(labels.size, batch))
        np.matmul(dz2, a1.T, out=self.dW2)
        self.db2[:] = dz2.sum(axis=1, keepdims=True)
        dz1 = ops.hidden_delta(p.W2.T @ dz2, a1)
        np.matmul(dz1, X.T, out=self.dW1)
        self.db1[:] = dz1.sum(axis=1, keepdims=True)
        self.loss[0] = ops.cross_entropy_sum(log_p, labels) / batch

    def reduce(self) -> None:
        """Sum the packed buffer over ranks, then add lambda W once."""
        self.comm.allreduce_sum(self.buffer, "step")
        self.dW1 += self.lam * self.p.W1
        self.dW2 += self.lam * self.p.W2

    def step(self, t: int) -> float:
        start, stop = self.batch_span(t)
        X, labels = self.local_columns(t)
        self.local_gradient(X, labels, stop - start)
        self.reduce()
        p = self.p
        J = float(self.loss[0]) + 0.5 * self.lam * (float(np.sum(p.W1 * p.W1))
                                                    + float(np.sum(p.W2 * p.W2)))
        for param, grad in ((p.W1, self.dW1), (p.b1, self.db1), (p.W2, self.dW2),
                            (p.b2, self.db2)):
            param -= self.lr * grad
        self.steps_taken += 1
        return J

    def logits(self, images: np.ndarray | None) -> np.ndarray | None:
        if images is None:
            return None
        p = self.p
        return p.W2 @ ops.logistic(p.W1 @ images.T + p.b1) + p.b2
