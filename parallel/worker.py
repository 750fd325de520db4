"""Internal: what `oraclenet mpi bench` and the verify report start under mpiexec, one
process per rank. Not a user command:

    mpiexec -n P python -m mpi4py -m oraclenet.parallel.worker train --strategy data ...
    mpiexec -n 2 python -m mpi4py -m oraclenet.parallel.worker allreduce [--repeats R]

`train` trains for --epochs + 1 epochs on synthetic images and rank 0 prints one JSON line
(images/s, seconds per step and per allreduce, bytes per step); `allreduce` prints the
median time of an allreduce for each size.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time

import numpy as np

from ..common.cli import positive_float, positive_int
from ..common.data import synthetic
from ..common.params import init_params
from ..common.process import one_blas_thread
from .comm import Comm
from .data_parallel import DataParallel
from .model_parallel import ModelParallel
from .watchdog import Watchdog

PROG = "oraclenet mpi bench (worker)"
ALLREDUCE_SIZES = (8, 1 << 10, 1 << 14, 1 << 17, 1 << 20, 1 << 22)


def train(strategy: str, images: int, hidden: int, batch: int, epochs: int,
          timeout: float) -> int:
    comm = Comm()
    dog = Watchdog(comm, timeout, PROG)
    kind = {"data": DataParallel, "model": ModelParallel}[strategy]
    data = synthetic(images, seed=0) if comm.rank == 0 else None
    trainer = kind(comm, init_params(hidden, 0), data, batch, 1e-4, 0.1)
    seconds = []
    for epoch in range(epochs + 1):
        comm.comm.Barrier()
        if epoch == 1:  # count communication after the warm-up epoch only
            comm.seconds.clear()
        began = time.perf_counter()
        for t in range(trainer.n_batches):
            dog.progress(f"step {trainer.steps_taken + 1} (batch {t + 1} of "
                         f"{trainer.n_batches})")
            trainer.step(t)
        comm.comm.Barrier()
        seconds.append(time.perf_counter() - began)
    dog.stop()
    timed = seconds[1:]
    steps = trainer.n_batches * len(timed)
    if comm.rank == 0:
        print(json.dumps(dict(
            strategy=strategy, ranks=comm.size, images=images, hidden=hidden,
            batch=batch, epoch_seconds=timed,
            images_per_second=images / statistics.median(timed),
            step_seconds=sum(timed) / steps, allreduce_seconds=comm.seconds["step"] / steps,
            bytes_per_step=trainer.bytes_per_step())))
    return 0


def allreduce(repeats: int, timeout: float) -> int:
    comm = Comm()
    dog = Watchdog(comm, timeout, PROG)
    times = {}
    for size in ALLREDUCE_SIZES:
        dog.progress(f"allreduce of {size} bytes")
        buffer = np.ones(size // 8)
        samples = []
        for _ in range(repeats):
            comm.comm.Barrier()
            began = time.perf_counter()
            comm.allreduce_sum(buffer)
            samples.append(time.perf_counter() - began)
        times[size] = statistics.median(samples)
    dog.stop()
    if comm.rank == 0:
        print(json.dumps(times))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m oraclenet.parallel.worker")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("train")
    p.add_argument("--strategy", choices=("data", "model"), required=True)
    p.add_argument("--images", type=positive_int, required=True)
    p.add_argument("-n", "--hidden", type=positive_int, required=True)
    p.add_argument("-b", "--batch", type=positive_int, required=True)
    p.add_argument("--epochs", type=positive_int, required=True, help="timed, after a warm-up")
    sub.add_parser("allreduce").add_argument("--repeats", type=positive_int, default=50)
    for command in sub.choices.values():
        command.add_argument("--timeout", type=positive_float, default=600.0,
                             help="the watchdog's: seconds a rank may go without progress")
    args = vars(parser.parse_args(argv))
    one_blas_thread()
    return {"train": train, "allreduce": allreduce}[args.pop("command")](**args)


if __name__ == "__main__":
    sys.exit(main())
