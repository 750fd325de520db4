"""What both strategies share: the batch schedule, the arithmetic they compose, and the epoch
loop.

A trainer is one rank's share of mini-batch SGD. Batches are taken in order, the last one
partial; every rank takes part in every step, even with an empty share. A strategy decides
what each rank holds and what is summed over the ranks; the arithmetic of its share is done
by a LocalNetwork, numpy's (host.HostNetwork) or the device's (gpu.network.DeviceNetwork),
chosen when the trainer is made.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import numpy as np

from ..common.data import Dataset
from ..common.loop import History, run_epochs
from ..common.params import Params
from .comm import Comm


class LocalNetwork(Protocol):
    """One rank's share of the network, in phases. Images are rows (B x 784)."""

    dtype: np.dtype

    def set_params(self, p: Params) -> None: ...

    def params(self) -> Params:
        """The parameters held here, on the host, float64."""

    def load(self, images: np.ndarray, labels: np.ndarray | None = None):
        """(images, labels) where the arithmetic happens (host memory or the device)."""

    def forward(self, X, with_b2: bool = True) -> None:
        """a1 and z2 of X's rows; without b2, z2 = W2 a1 (a partial sum over hidden units)."""

    def z2(self) -> np.ndarray:
        """The last forward's z2 (10 x B) on the host, in the network's dtype."""

    def set_z2(self, z2: np.ndarray) -> None:
        """Take z2 (summed over the ranks) plus b2 as the last forward's z2."""

    def squares(self) -> float:
        """||W1||^2 + ||W2||^2 of the parameters held here."""

    def backward(self, X, labels, normaliser: int, reg: float, out: Params | None = None
                 ) -> float:
        """Gradients from the last forward (data term over normaliser, plus reg W), also
        into out's host arrays when given; returns sum_i -log yhat[y_i, i]."""

    def update(self, lr: float, grads: Params | None = None) -> None:
        """p -= lr g: the last backward's gradients, or grads (host arrays)."""


NetworkFactory = Callable[[Params], LocalNetwork]


class Trainer:
    """Subclasses define step(t), set_params(p), gather_params() and logits(images)."""

    def __init__(self, comm: Comm, hidden: int, n_train: int, batch: int, reg: float,
                 lr: float):
        self.comm, self.batch, self.reg, self.lr = comm, batch, reg, lr
        self.n_train = n_train
        self.hidden = hidden
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

    def accuracy(self, data: Dataset | None) -> float | None:
        z2 = self.logits(None if data is None else data.images)
        return None if z2 is None else float(np.mean(np.argmax(z2, axis=0) == data.labels))

    def params_finite(self) -> bool:
        """No NaN or infinity in any rank's parameters (collective)."""
        return all(self.comm.allgather(self.net.params().finite()))

    def bytes_per_step(self) -> float:
        """Bytes this rank handed to MPI per training step."""
        return self.comm.sent["step"] / max(self.steps_taken, 1)


def run(trainer: Trainer, epochs: int, val: Dataset | None, progress: bool,
        print_loss: bool, allow_divergence: bool = False,
        step_begins: Callable[[str], None] | None = None,
        after_step: Callable[[int], None] | None = None) -> History:
    """The shared epoch loop; rank 0 shows the progress bar and keeps the history. J is the
    same on every rank, so every rank stops at the same non-finite loss.
    step_begins(where), if given, hears of each step before it runs (the watchdog);
    after_step(k), on every rank, after the k-th step (--dump-dir)."""
    root = trainer.comm.rank == 0

    def step(t: int, start: int, stop: int) -> float:
        if step_begins is not None:
            step_begins(f"step {trainer.steps_taken + 1} (batch {t + 1} of "
                        f"{trainer.n_batches})")
        return trainer.step(t)

    return run_epochs(trainer.n_train, trainer.batch, epochs, step,
                      lambda: trainer.accuracy(val if root else None),
                      progress=progress and root, print_loss=print_loss and root,
                      params_finite=trainer.params_finite, allow_divergence=allow_divergence,
                      after_step=after_step)
