"""Teacher forcing: each step of an implementation starts from the oracle's own parameters,
so that roundoff cannot compound, and is judged by reference/bounds.py's first-order bounds
of that one step. Used for the GPU trainer and the MPI trainers alike."""

from __future__ import annotations

import numpy as np

from reference import bounds, network
from reference.data import Dataset
from reference.params import Params


def representable(x, dtype):
    """x (Params or array) rounded to dtype, held in float64: what both sides will see."""
    return x.astype(dtype).astype(np.float64)


def in_dtype(data: Dataset, dtype) -> Dataset:
    return Dataset(representable(data.images, dtype), data.labels)


def oracle_walk(p0: Params, data: Dataset, batch: int, lam: float, lr: float, dtype,
                steps: int | None = None):
    """Yield (t, start, stop, p) for the oracle's steps over one epoch in order, p rounded to
    dtype before each step."""
    p = representable(p0, dtype)
    for t, start in enumerate(range(0, len(data), batch)):
        if t == steps:
            return
        stop = min(start + batch, len(data))
        yield t, start, stop, p
        X, Y = data.batch(start, stop)
        p = p.copy()
        network.sgd_step(p, network.backward(p, X, Y, lam), lr)
        p = representable(p, dtype)


def judge(updated: Params, J: float, p: Params, data: Dataset, start: int, stop: int,
          lam: float, lr: float, dtype) -> dict:
    """Verdicts on one step from p: the updated blocks (held in dtype) and the loss."""
    X, Y = data.batch(start, stop)
    verdicts = bounds.compare_step(updated.astype(dtype), p, X, Y, lam, lr)
    verdicts["J"] = bounds.compare_loss(J, p, X, Y, lam, dtype)
    return verdicts
