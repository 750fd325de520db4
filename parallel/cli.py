"""``mpiexec -n P python -m mpi4py -m parallel train --strategy data|model [--gpu] [flags]``.

The oracle's training flags, presets, defaults and --json schema, plus --strategy, and --gpu
(with --dtype and --gemm) to compute with the kernels of gpu/ on each rank's device. Rank 0
reads the data, prints the progress bar and writes the files. Every failure that can happen
on some ranks only (bad arguments, differing arguments, unreadable data) is agreed on
collectively, so all ranks stop with one message and exit code 2; anything unexpected
propagates, and `python -m mpi4py` then aborts the whole job instead of letting it hang.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from gpu.options import add_device_arguments, device_choices, device_error
from parallel.comm import Comm, RankError
from parallel.data_parallel import DataParallel
from parallel.model_parallel import ModelParallel
from parallel.trainer import Trainer, run
from reference import config as cfg
from reference.data import DataError, load
from reference.files import write_json
from reference.params import init_params, save_params

STRATEGIES = {"data": DataParallel, "model": ModelParallel}
EXIT_USAGE = 2


class UsageError(ValueError):
    pass


class CollectiveParser(argparse.ArgumentParser):
    """An argument error is raised, not printed, so that the ranks can agree on it first."""

    def error(self, message: str) -> None:
        raise UsageError(f"{self.prog}: error: {message} (see --help)")


def build_parser() -> argparse.ArgumentParser:
    parser = CollectiveParser(prog="python -m parallel", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True, parser_class=CollectiveParser)
    p = sub.add_parser("train", help="train with P MPI ranks")
    p.add_argument("--strategy", choices=sorted(STRATEGIES), required=True,
                   help="data: batches split across ranks; model: hidden neurons split")
    cfg.add_train_arguments(p)
    p.add_argument("--gpu", action="store_true", help="compute with the CUDA kernels of gpu/")
    add_device_arguments(p, "with --gpu: ")
    p.add_argument("--save", type=Path, help="rank 0 writes the final parameters (.npz)")
    p.add_argument("--json", type=Path, help="rank 0 writes the run's record")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


def _differences(mine: dict, root: dict) -> str:
    return ", ".join(f"{k} {mine[k]!r} != {root[k]!r}" for k in root if mine.get(k) != root[k])


def settings(comm: Comm, argv: list[str] | None) -> tuple[argparse.Namespace, cfg.TrainConfig]:
    """Parse on every rank, then check that every rank parsed what rank 0 parsed."""
    args, config, error = None, None, None
    try:
        args = build_parser().parse_args(argv)
        config = cfg.resolve(args)
        if config.shuffle:
            raise UsageError("--shuffle: the parallel trainers keep each rank's data where it "
                             "was sent at start-up, so batches are always taken in order")
        if not args.gpu and (args.dtype or args.gemm):
            raise UsageError("--dtype and --gemm choose the GPU kernels: add --gpu")
        unusable = device_error() if args.gpu else None
        if unusable:
            raise UsageError(f"--gpu: {unusable}")
        if args.gpu and args.strategy == "model" and config.hidden < comm.size:
            raise UsageError(f"--gpu --strategy model: -n {config.hidden} hidden neurons "
                             f"cannot give each of {comm.size} ranks one")
    except UsageError as err:
        error = str(err)
    comm.agree(error)
    mine = dict(config.as_dict(), strategy=args.strategy, gpu=args.gpu, dtype=args.dtype,
                gemm=args.gemm, json=str(args.json), save=str(args.save))
    root = comm.comm.bcast(mine)
    diff = _differences(mine, root)
    comm.agree(f"arguments differ from rank 0's: {diff}" if diff else None)
    return args, config


def make_trainer(args: argparse.Namespace, comm: Comm, *setup) -> tuple[Trainer, str, dict]:
    """The chosen strategy's trainer (on the device with --gpu), what it computes with, and
    the settings that say so in the record's config."""
    if not args.gpu:
        return STRATEGIES[args.strategy](comm, *setup), "numpy float64", dict(gpu=False)
    from parallel.device import ON_DEVICE  # imports numba: only with --gpu

    dtype, gemm = device_choices(args)
    return (ON_DEVICE[args.strategy](comm, *setup, dtype=dtype, algorithm=gemm),
            f"gpu {gemm} GEMM, {dtype}", dict(gpu=True, dtype=dtype, gemm=gemm))


def train(comm: Comm, args: argparse.Namespace, config: cfg.TrainConfig) -> int:
    began = time.perf_counter()
    root = comm.rank == 0
    split, error = None, None
    if root:
        try:
            split = load(config.data, config.pixels, config.val_fraction, config.seed)
        except DataError as err:
            error = str(err)
    comm.agree(error)
    params = init_params(config.hidden, config.seed, config.init)
    trainer, arithmetic, device = make_trainer(args, comm, params, split.train if root else None,
                                    config.batch, config.reg, config.lr)
    history = run(trainer, config.epochs, split.val if root else None,
                  progress=not args.quiet, print_loss=config.print_loss)
    has_test = comm.comm.bcast(root and split.test is not None)
    test_accuracy = trainer.accuracy(split.test if root else None) if has_test else None
    final = trainer.gather_params()
    if not root:
        return 0
    record = {
        "implementation": f"parallel ({args.strategy} parallelism, {arithmetic})",
        "strategy": args.strategy,
        "ranks": comm.size,
        "config": dict(config.as_dict(), **device),
        "n_train": len(split.train),
        "n_val": len(split.val),
        "val_accuracy": history.val_accuracy_per_epoch[-1],
        **history.as_dict(),
        "bytes_per_step_per_rank": trainer.bytes_per_step(),
        "wall_seconds": time.perf_counter() - began,
    }
    if test_accuracy is not None:
        record["test_accuracy"] = test_accuracy
    try:  # only rank 0 is still here: a failure now cannot leave anyone waiting
        if args.save:
            save_params(final, args.save)
        if args.json:
            write_json(args.json, record)
    except OSError as err:
        print(f"python -m parallel: error: {err}", file=sys.stderr)
        return EXIT_USAGE
    print(f"{args.strategy} parallelism on {comm.size} ranks: val_accuracy "
          f"{record['val_accuracy']:.4f}  {record['images_per_second']:,.0f} images/s  "
          f"{record['bytes_per_step_per_rank']:,.0f} bytes/step/rank")
    return 0


def main(argv: list[str] | None = None) -> int:
    comm = Comm()
    try:
        args, config = settings(comm, argv)
        return train(comm, args, config)
    except RankError as err:
        if comm.rank == 0:
            print(f"python -m parallel: error: {err}", file=sys.stderr)
        return EXIT_USAGE

