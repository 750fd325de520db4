"""The epoch loop every trainer shares, and the history it records: batches in order (the last
one partial, averaged over its own size by the trainer's step), optional seeded reshuffling
per epoch, the loss of every iteration, the validation accuracy of every epoch, and timings.
It does no arithmetic on the network."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import numpy as np
from tqdm import tqdm

from .data import STREAM_SHUFFLE, rng_for


@dataclass
class History:
    """What a run records; the --json schema of every trainer is built from it."""

    train_loss: list[float] = field(default_factory=list)  # J of each batch, before its step
    val_accuracy_per_epoch: list[float] = field(default_factory=list)
    epoch_seconds: list[float] = field(default_factory=list)  # training steps only
    step_seconds: list[float] = field(default_factory=list)  # each step, as train_loss
    images: int = 0  # images processed by training steps

    @property
    def images_per_second(self) -> float:
        return self.images / sum(self.epoch_seconds) if self.epoch_seconds else 0.0

    def as_dict(self) -> dict:
        return dict(asdict(self), images_per_second=self.images_per_second)


def epoch_order(n: int, epoch: int, seed: int, shuffle: bool) -> np.ndarray | None:
    """The permutation of the training set for one epoch, or None for the stored order."""
    if not shuffle:
        return None
    return rng_for(seed, STREAM_SHUFFLE, epoch).permutation(n)


def batch_starts(n: int, batch: int) -> range:
    """First column of each batch: in order, the last one partial when batch does not divide n."""
    return range(0, n, batch)


class Diverged(ArithmeticError):
    """Training reached a non-finite loss or parameter; the message names where."""


def run_epochs(n: int, batch: int, epochs: int, step: Callable[[int, int, int], float],
               evaluate: Callable[[], float | None], *, progress: bool, print_loss: bool,
               begin_epoch: Callable[[int], None] | None = None,
               params_finite: Callable[[], bool] | None = None,
               allow_divergence: bool = False,
               after_step: Callable[[int], None] | None = None) -> History:
    """The epoch loop every trainer shares (it does no arithmetic on the network).

    step(t, start, stop) trains on batch t, columns [start, stop), and returns J before the
    step; evaluate() gives the validation accuracy after each epoch, or None (no validation
    set, or an MPI rank other than 0); begin_epoch(epoch), if given, runs before each epoch.
    The run stops with Diverged at the first non-finite J, and after an epoch whose
    parameters are not all finite (params_finite(); a non-finite parameter also makes the
    next J non-finite), unless allow_divergence. after_step(k), if given, runs after the
    k-th step of the run (1, 2, ...: --dump-dir writes the parameters there).
    """
    history = History()
    for epoch in range(epochs):
        if begin_epoch is not None:
            begin_epoch(epoch)
        bar = tqdm(batch_starts(n, batch), desc=f"epoch {epoch + 1}/{epochs}", unit="batch",
                   disable=not progress, leave=False, mininterval=0.5)
        began = time.perf_counter()
        for t, start in enumerate(bar):
            stop = min(start + batch, n)
            step_began = time.perf_counter()
            J = step(t, start, stop)
            if not (allow_divergence or math.isfinite(J)):
                raise Diverged(f"step {len(history.train_loss) + 1} (epoch {epoch + 1}, batch "
                               f"{t + 1}): the loss is {J}")
            history.step_seconds.append(time.perf_counter() - step_began)
            history.train_loss.append(J)
            history.images += stop - start
            if after_step is not None:
                after_step(len(history.train_loss))
            rate = (t * batch + stop - start) / (time.perf_counter() - began)
            bar.set_postfix(loss=f"{J:.4f}", img_per_s=f"{rate:,.0f}", refresh=False)
            if print_loss:
                tqdm.write(f"epoch {epoch + 1} iteration {t + 1} loss {J:.6f}")
        history.epoch_seconds.append(time.perf_counter() - began)
        if not (allow_divergence or params_finite is None or params_finite()):
            raise Diverged(f"after step {len(history.train_loss)} (the end of epoch "
                           f"{epoch + 1}): the parameters hold NaN or infinite entries")
        accuracy = evaluate()
        if accuracy is not None:
            history.val_accuracy_per_epoch.append(accuracy)
            if progress:
                tqdm.write(f"epoch {epoch + 1}/{epochs}: loss {history.train_loss[-1]:.4f}, "
                           f"val accuracy {accuracy:.4f}, "
                           f"{history.images_per_second:,.0f} images/s")
    return history
