"""`mpiexec -n P oraclenet mpi train --strategy data|model [--gpu] [flags]`.

The oracle's training flags, presets, defaults and record, plus --strategy, and --gpu (with
--dtype and --gemm) to compute with the kernels of oraclenet.gpu on each rank's device. Rank
0 reads the data, prints the progress bar and writes the files. Every failure that can happen
on some ranks only (bad arguments, differing arguments, unreadable data) is agreed on
collectively, so all ranks stop with one message and exit code 2; anything unexpected aborts
the whole job (MPI_Abort, as `python -m mpi4py` does) instead of letting the others hang.
"""

from __future__ import annotations

import argparse
import functools
import time
from dataclasses import dataclass
from pathlib import Path

from ..common import config as cfg
from ..common.cli import EXIT_DIVERGED, EXIT_USAGE, positive_float, say_error
from ..common.data import DataError, load
from ..common.dump import RunDump, check_dump_dir
from ..common.files import check_output, write_json
from ..common.loop import Diverged
from ..common.memory import check_network
from ..common.params import init_params, save_params
from ..common.process import one_blas_thread
from ..common.record import run_record
from ..gpu.options import Device, add_device_arguments, device_error, device_from
from .comm import Comm, RankError
from .data_parallel import DataParallel
from .model_parallel import ModelParallel
from .trainer import NetworkFactory, Trainer, run
from .watchdog import Watchdog

PROG = "oraclenet mpi train"
DEFAULT_TIMEOUT_S = 600.0
STRATEGIES = {"data": DataParallel, "model": ModelParallel}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--strategy", choices=sorted(STRATEGIES), required=True,
                        help="data: batches split across ranks; model: hidden neurons split")
    cfg.add_train_arguments(parser)
    parser.add_argument("--gpu", action="store_true",
                        help="compute with the CUDA kernels of oraclenet.gpu")
    add_device_arguments(parser, "with --gpu: ")
    parser.add_argument("--save", type=Path, help="rank 0 writes the final parameters (.npz)")
    parser.add_argument("--json", type=Path, help="rank 0 writes the run's record")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument("--dump-dir", type=Path,
                        help="rank 0 writes the run step by step into this new directory, as "
                             "`oraclenet check run` reads it")
    parser.add_argument("--timeout", type=positive_float, default=DEFAULT_TIMEOUT_S,
                        metavar="SECONDS",
                        help="end the whole job when a rank makes no progress for this long, "
                             f"naming it (default {DEFAULT_TIMEOUT_S:g})")


@dataclass(frozen=True)
class Options:
    """What `mpi train` adds to a TrainConfig."""

    strategy: str
    device: Device | None  # None: numpy float64 on the host
    save: Path | None = None
    json: Path | None = None
    progress: bool = True
    timeout: float = DEFAULT_TIMEOUT_S  # seconds a rank may go without progress
    dump_dir: Path | None = None


def options_from(args: argparse.Namespace) -> Options:
    """The command's own flags, typed; ValueError for --dtype or --gemm without --gpu."""
    if not args.gpu and (args.dtype or args.gemm):
        raise ValueError("--dtype and --gemm choose the GPU kernels: add --gpu")
    return Options(args.strategy, device_from(args) if args.gpu else None, args.save,
                   args.json, not args.quiet, args.timeout, args.dump_dir)


def _check(config: cfg.TrainConfig, options: Options, comm: Comm) -> None:
    check_network(config.hidden, config.batch)
    if comm.rank == 0:  # rank 0 writes the outputs: refuse now, not after training
        for output in (options.save, options.json):
            if output:
                check_output(output)
        if options.dump_dir:
            check_dump_dir(options.dump_dir, config)
    if config.shuffle:
        raise ValueError("--shuffle: the parallel trainers keep each rank's data where it "
                         "was sent at start-up, so batches are always taken in order")
    if options.device is not None:
        unusable = device_error()
        if unusable:
            raise ValueError(f"--gpu: {unusable}")
        if options.strategy == "model" and config.hidden < comm.size:
            raise ValueError(f"--gpu --strategy model: -n {config.hidden} hidden neurons "
                             f"cannot give each of {comm.size} ranks one")


def agree_on_settings(comm: Comm, config: cfg.TrainConfig | None, options: Options | None,
                      usage_error: str | None) -> None:
    """Check on every rank, then check that every rank has what rank 0 has; RankError on
    every rank when any rank has an error or differs."""
    error = usage_error
    if error is None:
        try:
            _check(config, options, comm)
        except (ValueError, OSError) as err:  # OutputError and ResourceError too
            error = str(err)
    comm.agree(error)
    mine = dict(config.as_dict(), **{k: str(v) for k, v in vars(options).items()})
    root = comm.bcast(mine)
    diff = ", ".join(f"{k} {mine[k]!r} != {root[k]!r}" for k in root if mine.get(k) != root[k])
    comm.agree(f"arguments differ from rank 0's: {diff}" if diff else None)


def network_factory(device: Device | None) -> NetworkFactory | None:
    """None (numpy on the host, the strategies' default) or DeviceNetwork in the device's
    dtype and GEMM."""
    if device is None:
        return None
    from ..gpu.network import DeviceNetwork  # imports numba: only with --gpu

    return functools.partial(DeviceNetwork, dtype=device.dtype, algorithm=device.gemm)


def make_trainer(strategy: str, device: Device | None, comm: Comm, *setup) -> Trainer:
    """The strategy's trainer, computing on the host or with device's kernels."""
    factory = network_factory(device)
    kind = STRATEGIES[strategy]
    return kind(comm, *setup) if factory is None else kind(comm, *setup, network=factory)


def train(comm: Comm, config: cfg.TrainConfig, options: Options, dog: Watchdog) -> int:
    began = time.perf_counter()
    root = comm.rank == 0
    split, error = None, None
    if root:
        dog.progress("start-up: reading the data")
        try:
            split = load(config.data, config.pixels, config.val_fraction, config.seed)
        except DataError as err:
            error = str(err)
    comm.agree(error)
    dog.progress("start-up: sending the data")
    params = init_params(config.hidden, config.seed, config.init)
    trainer = make_trainer(options.strategy, options.device, comm, params,
                           split.train if root else None, config.batch, config.reg, config.lr)
    after_step = None
    if options.dump_dir:
        dtype = "float64" if options.device is None else options.device.dtype
        dump = RunDump(options.dump_dir, dtype)
        first = trainer.gather_params()
        if root:
            dump.start(config, split.train, first, f"parallel ({options.strategy} parallelism)")

        def after_step(k: int) -> None:
            reached = trainer.gather_params()  # collective: every rank comes here
            if root:
                dump.step(k, reached)

    history = run(trainer, config.epochs, split.val if root else None,
                  progress=options.progress, print_loss=config.print_loss,
                  allow_divergence=config.allow_divergence, step_begins=dog.progress,
                  after_step=after_step)
    dog.progress("the test set and the final parameters")
    has_test = comm.bcast(root and split.test is not None)
    test_accuracy = trainer.accuracy(split.test if root else None) if has_test else None
    final = trainer.gather_params()
    dog.stop()
    if not root:
        return 0
    device = options.device
    arithmetic = "numpy float64" if device is None else device.describe()
    device_config = (dict(gpu=False) if device is None else
                     dict(gpu=True, dtype=device.dtype, gemm=device.gemm))
    record = run_record(f"parallel ({options.strategy} parallelism, {arithmetic})",
                        dict(config.as_dict(), **device_config), split, history, began,
                        test_accuracy, strategy=options.strategy, ranks=comm.size,
                        bytes_per_step_per_rank=trainer.bytes_per_step())
    try:  # only rank 0 is still here: a failure now cannot leave anyone waiting
        if options.save:
            save_params(final, options.save)
        if options.json:
            write_json(options.json, record)
    except (OSError, ValueError) as err:
        return say_error(PROG, err)
    print(f"{options.strategy} parallelism on {comm.size} ranks: val_accuracy "
          f"{record['val_accuracy']:.4f}  {record['images_per_second']:,.0f} images/s  "
          f"{record['bytes_per_step_per_rank']:,.0f} bytes/step/rank")
    return 0


def main(config: cfg.TrainConfig | None, options: Options | None,
         usage_error: str | None = None) -> int:
    """The command, on every rank: the settings as this rank parsed them, or the usage error
    its parser raised (agreed on with the other ranks before anyone exits)."""
    try:
        one_blas_thread()
        comm = Comm()
        dog = Watchdog(comm, DEFAULT_TIMEOUT_S if options is None else options.timeout, PROG)
        try:
            agree_on_settings(comm, config, options, usage_error)
            return train(comm, config, options, dog)
        except (RankError, Diverged) as err:  # raised on every rank at once
            dog.stop()
            if comm.rank == 0:
                say_error(PROG, err if isinstance(err, RankError) else
                          f"training diverged at {err} (--allow-divergence goes on)")
            return EXIT_USAGE if isinstance(err, RankError) else EXIT_DIVERGED
    except BaseException as err:
        from mpi4py.run import set_abort_status

        set_abort_status(err if isinstance(err, SystemExit | KeyboardInterrupt) else 1)
        raise
