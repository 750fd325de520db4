"""What both strategies share: the batch schedule, the epoch loop and the history.

A trainer is one rank's share of mini-batch SGD. Batches are taken in order, the last one
partial; every rank takes part in every step, even with an empty share.
"""

from __future__ import annotations

import numpy as np

from parallel.comm import Comm
from reference.data import Dataset
from reference.params import Params
from reference.train import History, run_epochs


class Trainer:
    """Subclasses define step(t), set_params(p), gather_params() and logits(images)."""

    def __init__(self, comm: Comm, params: Params, n_train: int, batch: int, lam: float,
                 lr: float):
        self.comm, self.batch, self.lam, self.lr = comm, batch, lam, lr
        self.n_train = n_train
        self.hidden = params.hidden
        self.steps_taken = 0

    @property
    def n_batches(self) -> int:
        return -(-self.n_train // self.batch)

    def batch_span(self, t: int) -> tuple[int, int]:
        """Global columns [start, stop) of batch t."""
        start = t * self.batch
        return start, min(start + self.batch, self.n_train)

    def step(self, t: int) -> float:
        """SGD on batch t; returns J on that batch before the update, on every rank."""
        raise NotImplementedError

    def set_params(self, p: Params) -> None:
        """Take the full parameters p (the same on every rank) as this rank's."""
        raise NotImplementedError

    def gather_params(self) -> Params | None:
        """The full parameters on rank 0 (collective), None elsewhere."""
        raise NotImplementedError

    def logits(self, images: np.ndarray | None) -> np.ndarray | None:
        """z2 (10 x N) for rank 0's images (N x 784), on rank 0 (collective)."""
        raise NotImplementedError

    def accuracy(self, val: Dataset | None) -> float | None:
        z2 = self.logits(None if val is None else val.images)
        return None if z2 is None else float(np.mean(np.argmax(z2, axis=0) == val.labels))

    def bytes_per_step(self) -> float:
        """Bytes this rank handed to MPI per training step."""
        return self.comm.sent["step"] / max(self.steps_taken, 1)


def run(trainer: Trainer, epochs: int, val: Dataset | None, progress: bool,
        print_loss: bool) -> History:
    """The shared epoch loop; rank 0 shows the progress bar and keeps the history."""
    root = trainer.comm.rank == 0
    return run_epochs(trainer.n_train, trainer.batch, epochs,
                      lambda t, start, stop: trainer.step(t),
                      lambda: trainer.accuracy(val if root else None),
                      progress=progress and root, print_loss=print_loss and root)
