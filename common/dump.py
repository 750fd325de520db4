"""A training run written down step by step, as `oraclenet check run` reads it (and any
trainer, in any language, can write it):

    run.json          {"data": "data.npz", "pixels", "val_fraction", "seed", "hidden",
                       "batch", "lr", "reg", "dtype", "trainer"}
    data.npz          X (784 x N) and labels (N): the training set in the order it was used
    params-0000.npz   W1, b1, W2, b2 at the start, in the run's dtype
    params-0001.npz   ... after each step: batches in order, the last one partial, epoch
                      after epoch

`check run` also reads a step's parameters as params-NNNN.mat (MATLAB v4 to v7.3) or as a
folder params-NNNN/ of one file per matrix in any format (common/params.py's read_params).

Every trainer of oraclenet writes it with --dump-dir. Each file is written whole or not at
all; a directory that already holds a run is refused, so that no run is mixed with another.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .config import TrainConfig
from .data import Dataset
from .files import OutputError, check_output, write_json, write_npz
from .params import Params

RUN_JSON = "run.json"
DATA_NPZ = "data.npz"


def params_name(step: int) -> str:
    return f"params-{step:04d}.npz"


def check_dump_dir(directory: Path, config: TrainConfig) -> None:
    """Before any work: refuse a directory that holds a run already, or cannot be written,
    and a run whose batches do not come in the stored order."""
    if config.shuffle:
        raise ValueError("--dump-dir records batches in the stored order; it cannot be used "
                         "with --shuffle")
    if directory.exists() and not directory.is_dir():
        raise OutputError(f"--dump-dir {directory}: exists and is not a directory")
    if (directory.is_dir() and any(directory.glob("params-*.npz"))) or (
            directory / RUN_JSON).exists():
        raise OutputError(f"--dump-dir {directory}: holds a run already; choose another "
                          "directory")
    check_output(directory / RUN_JSON)


@dataclass(frozen=True)
class RunDump:
    """At the start of a run it writes run.json, the training set and the parameters; after
    each step, the parameters."""

    directory: Path
    dtype: str = "float64"

    def start(self, config: TrainConfig, train_set: Dataset, p: Params, trainer: str) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        write_json(self.directory / RUN_JSON, {
            "data": DATA_NPZ, "pixels": config.pixels, "val_fraction": config.val_fraction,
            "seed": config.seed, "hidden": p.hidden, "batch": config.batch,
            "lr": config.lr, "reg": config.reg, "dtype": self.dtype, "trainer": trainer})
        write_npz(self.directory / DATA_NPZ, {"X": np.ascontiguousarray(train_set.X),
                                              "labels": train_set.labels})
        self.step(0, p)

    def step(self, step: int, p: Params) -> None:
        """The parameters after `step` steps, in the run's dtype (they are representable:
        the run computed them in it)."""
        write_npz(self.directory / params_name(step),
                  {name: block.astype(self.dtype) for name, block in p.blocks().items()})
