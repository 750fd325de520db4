"""Training the oracle: mini-batch SGD through the shared epoch loop (common/loop.py), each
step threaded.step (network.step's numbers), and a whole run as `oraclenet train` makes it."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

from ..common.config import TrainConfig
from ..common.data import Dataset, load
from ..common.dump import RunDump
from ..common.loop import History, epoch_order, run_epochs
from ..common.memory import check_network
from ..common.params import Params, init_params, load_params
from ..common.record import run_record
from . import threaded
from .network import accuracy

IMPLEMENTATION = "reference (numpy float64)"


def train(p: Params, train_set: Dataset, val_set: Dataset | None, *, epochs: int, batch: int,
          lr: float, reg: float, seed: int = 0, shuffle: bool = False, progress: bool = True,
          print_loss: bool = False, allow_divergence: bool = False,
          dump: RunDump | None = None) -> History:
    """Train p in place; returns the History. Stops with common.loop.Diverged at the first
    non-finite loss or parameter, unless allow_divergence. dump writes p after every
    step (its start() is the caller's)."""
    data = train_set

    def begin_epoch(epoch: int) -> None:
        nonlocal data
        order = epoch_order(len(train_set), epoch, seed, shuffle)
        data = train_set if order is None else Dataset(train_set.images[order],
                                                       train_set.labels[order])

    def step(t: int, start: int, stop: int) -> float:
        X, Y = data.batch(start, stop)
        return threaded.step(p, X, Y, reg, lr)

    def evaluate() -> float | None:
        return None if val_set is None else accuracy(p, val_set.X, val_set.labels)

    return run_epochs(len(train_set), batch, epochs, step, evaluate, progress=progress,
                      print_loss=print_loss, begin_epoch=begin_epoch, params_finite=p.finite,
                      allow_divergence=allow_divergence,
                      after_step=None if dump is None else lambda k: dump.step(k, p))


def run_training(config: TrainConfig, *, progress: bool = True, init_from: Path | None = None,
                 dump_dir: Path | None = None) -> tuple[dict, Params]:
    """Load the data, initialise (or read init_from), train: (the run record, the final
    parameters). dump_dir: the run step by step, as `oraclenet check run` reads it."""
    began = time.perf_counter()
    check_network(config.hidden, config.batch)
    split = load(config.data, config.pixels, config.val_fraction, config.seed)
    if init_from:
        params = load_params(init_from)
        config = replace(config, hidden=params.hidden)  # the file decides the width
    else:
        params = init_params(config.hidden, config.seed, config.init)
    dump = None
    if dump_dir is not None:
        dump = RunDump(dump_dir)
        dump.start(config, split.train, params, IMPLEMENTATION)
    history = train(params, split.train, split.val, epochs=config.epochs, batch=config.batch,
                    lr=config.lr, reg=config.reg, seed=config.seed, shuffle=config.shuffle,
                    progress=progress, print_loss=config.print_loss,
                    allow_divergence=config.allow_divergence, dump=dump)
    test_accuracy = (None if split.test is None else
                     accuracy(params, split.test.X, split.test.labels))
    return run_record(IMPLEMENTATION, config.as_dict(), split, history, began,
                      test_accuracy), params
