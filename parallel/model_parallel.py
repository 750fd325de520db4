"""Model parallelism: the hidden neurons are split across ranks, every rank sees every image.

Rank r owns rows h_r of W1 and b1 and the matching columns of W2 (the first H mod P ranks
own one neuron more); b2 is replicated. The training set is broadcast once. Forward: each
rank computes its a1 rows and its partial z2 = W2[:, h_r] a1[h_r]; one allreduce of the
10 x B partial sums (with this rank's share of ||W||^2 packed behind them, for the loss)
gives z2 everywhere. Backward needs no communication: dz2 is known on every rank, and every
rank's gradient blocks are its own. Bytes per step and rank: 8 (10 B + 1).
"""

from __future__ import annotations

import numpy as np

from parallel import ops
from parallel.comm import Comm
from parallel.partition import counts, part
from parallel.trainer import Trainer
from reference.data import Dataset
from reference.params import Params


class ModelParallel(Trainer):
    def __init__(self, comm: Comm, params: Params, train: Dataset | None, batch: int,
                 lam: float, lr: float):
        images = comm.bcast_array(None if train is None else train.images)
        labels = comm.bcast_array(None if train is None else train.labels)
        super().__init__(comm, params, len(labels), batch, lam, lr)
        self.images, self.labels = images, labels
        self.rows = part(params.hidden, comm.size, comm.rank)
        self.set_params(params)

    def set_params(self, p: Params) -> None:
        r = self.rows
        self.W1, self.b1 = p.W1[r].copy(), p.b1[r].copy()
        self.W2, self.b2 = p.W2[:, r].copy(), p.b2.copy()

    def local_params(self) -> Params:
        """This rank's rows of W1 and b1, columns of W2, and b2 (numpy float64)."""
        return Params(self.W1, self.b1, self.W2, self.b2)

    def gather_params(self) -> Params | None:
        sizes = counts(self.hidden, self.comm.size)
        mine = self.local_params()
        local = np.hstack([mine.W1, mine.b1, mine.W2.T])  # h_r x (784 + 1 + 10)
        full = np.empty((self.hidden, local.shape[1])) if self.comm.rank == 0 else None
        self.comm.comm.Gatherv(local, None if full is None else
                               [full, (sizes * local.shape[1]).tolist()], root=0)
        if full is None:
            return None
        return Params(full[:, :784].copy(), full[:, 784:785].copy(), full[:, 785:].T.copy(),
                      mine.b2.copy())

    def reduce_partial(self, partial: np.ndarray, squares: float,
                       kind: str) -> tuple[np.ndarray, float]:
        """Sum this rank's W2[:, h_r] a1[h_r] (10 x B) and ||W1_r||^2 + ||W2_r||^2 over the
        ranks, in one allreduce: (z2 without b2, ||W1||^2 + ||W2||^2)."""
        B = partial.shape[1]
        buffer = np.empty(10 * B + 1, partial.dtype)
        buffer[:-1].reshape(10, B)[...] = partial
        buffer[-1] = squares
        self.comm.allreduce_sum(buffer, kind)
        return buffer[:-1].reshape(10, B), float(buffer[-1])

    def b2_gradient(self, dz2: np.ndarray) -> np.ndarray:
        """db2 = rowsum(dz2): dz2 is complete on every rank, so nothing is summed over ranks."""
        return dz2.sum(axis=1, keepdims=True)

    def partial_logits(self, X: np.ndarray, kind: str) -> tuple[np.ndarray, np.ndarray, float]:
        """(a1 of this rank's rows, z2 for X: 784 x B, sum of ||W||_F^2 over all ranks)."""
        a1 = ops.logistic(self.W1 @ X + self.b1)
        squares = float(np.sum(self.W1 * self.W1)) + float(np.sum(self.W2 * self.W2))
        z2, squares = self.reduce_partial(self.W2 @ a1, squares, kind)
        return a1, z2 + self.b2, squares

    def step(self, t: int) -> float:
        start, stop = self.batch_span(t)
        X, labels = self.images[start:stop].T, self.labels[start:stop]
        a1, z2, squares = self.partial_logits(X, "step")
        log_p = ops.log_probabilities(z2)
        B = stop - start
        J = ops.cross_entropy_sum(log_p, labels) / B + 0.5 * self.lam * squares
        dz2 = ops.output_delta(log_p, labels, B)
        dW2 = dz2 @ a1.T + self.lam * self.W2
        db2 = self.b2_gradient(dz2)
        dz1 = ops.hidden_delta(self.W2.T @ dz2, a1)
        dW1 = dz1 @ X.T + self.lam * self.W1
        db1 = dz1.sum(axis=1, keepdims=True)
        for param, grad in ((self.W1, dW1), (self.b1, db1), (self.W2, dW2), (self.b2, db2)):
            param -= self.lr * grad
        self.steps_taken += 1
        return J

    def logits(self, images: np.ndarray | None) -> np.ndarray | None:
        images = self.comm.bcast_array(images)
        _, z2, _ = self.partial_logits(images.T, "evaluate")
        return z2 if self.comm.rank == 0 else None
