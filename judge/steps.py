"""Judging a trainer step by step, for the GPU trainer and the MPI trainers alike.

Each step is judged by judge/bounds.py's first-order bounds of that one step, from the
parameters it started from, so that roundoff cannot compound into the comparison. Two ways
to choose those: teacher forcing (every step starts from the oracle's own trajectory, set into
the trainer) and free running (the trainer keeps its own state, and each step is judged from
the parameters it had reached: this also checks what a trainer carries from step to step)."""

from __future__ import annotations

import numpy as np

from ..common.data import Dataset
from ..common.params import Params
from ..reference import network
from . import bounds
from .diagnose_network import diagnose_loss, diagnose_network


def representable(x, dtype):
    """x (Params or array) rounded to dtype, held in float64: what both sides will see."""
    return x.astype(dtype).astype(np.float64)


def in_dtype(data: Dataset, dtype) -> Dataset:
    return Dataset(representable(data.images, dtype), data.labels)


def oracle_step(p: Params, data: Dataset, start: int, stop: int, reg: float, lr: float,
                dtype) -> Params:
    """The oracle's SGD step from p on columns [start, stop), rounded to dtype."""
    X, Y = data.batch(start, stop)
    p = p.copy()
    network.sgd_step(p, network.backward(p, X, Y, reg), lr)
    return representable(p, dtype)


def judge(updated: Params, J: float, p: Params, data: Dataset, start: int, stop: int,
          reg: float, lr: float, dtype) -> dict:
    """Verdicts on one step from p: the updated blocks (held in dtype) and the loss."""
    X, Y = data.batch(start, stop)
    held = updated.astype(dtype)
    verdicts = diagnose_network(bounds.compare_step(held, p, X, Y, reg, lr), held, p, X, Y,
                                reg, lr)
    verdicts["J"] = diagnose_loss(bounds.compare_loss(J, p, X, Y, reg, dtype), J, p, X, Y, reg,
                                  dtype)
    return verdicts
