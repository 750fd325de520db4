"""`oraclenet gpu train`: the oracle's training flags, presets, defaults and record, computed
with the kernels of this package. The data and the parameters go to the device once; each
step brings back two numbers (the loss terms), each epoch one count (validation accuracy)."""

from __future__ import annotations

import time
from pathlib import Path

from ..common.config import TrainConfig
from ..common.data import load
from ..common.dump import RunDump
from ..common.loop import run_epochs
from ..common.memory import check_network
from ..common.params import Params, init_params
from ..common.record import run_record
from .network import DeviceNetwork
from .options import Device, device_error


def run_training(config: TrainConfig, device: Device, *, progress: bool = True,
                 dump_dir: Path | None = None) -> tuple[dict, Params]:
    """Train on the GPU (or in the simulator): (the run record, the final parameters).
    dump_dir: the run step by step, as `oraclenet check run` reads it."""
    if config.shuffle:
        raise ValueError("--shuffle: the GPU trainer keeps the training set on the device in "
                         "its stored order")
    error = device_error()
    if error:
        raise ValueError(error)
    began = time.perf_counter()
    check_network(config.hidden, config.batch)
    split = load(config.data, config.pixels, config.val_fraction, config.seed)
    net = DeviceNetwork(init_params(config.hidden, config.seed, config.init), device.dtype,
                        device.gemm)
    X, y = net.load(split.train.images, split.train.labels)
    X_val, y_val = net.load(split.val.images, split.val.labels)
    dump = None
    if dump_dir is not None:
        dump = RunDump(dump_dir, device.dtype)
        dump.start(config, split.train, net.params(), device.describe())

    def step(t: int, start: int, stop: int) -> float:
        return net.step(X[start:stop], y[start:stop], config.reg, config.lr)

    history = run_epochs(len(split.train), config.batch, config.epochs, step,
                         lambda: net.correct(X_val, y_val) / len(split.val),
                         progress=progress, print_loss=config.print_loss,
                         params_finite=lambda: net.params().finite(),
                         allow_divergence=config.allow_divergence,
                         after_step=None if dump is None else
                         lambda k: dump.step(k, net.params()))
    test_accuracy = None
    if split.test is not None:
        X_test, y_test = net.load(split.test.images, split.test.labels)
        test_accuracy = net.correct(X_test, y_test) / len(split.test)
    record = run_record(device.describe(), dict(config.as_dict(), dtype=device.dtype,
                                                gemm=device.gemm),
                        split, history, began, test_accuracy)
    return record, net.params()
