"""`python -m gpu train`: the oracle's training flags, presets, defaults and --json schema,
plus --dtype and --gemm. The data and the parameters go to the device once; each step
brings back two numbers (the loss terms), each epoch one count (validation accuracy)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from gpu.network import DeviceNetwork
from gpu.options import add_device_arguments, device_choices, device_error
from reference import config as cfg
from reference.cli import EXIT_USAGE, OneLineParser
from reference.data import DataError, load
from reference.files import write_json
from reference.params import init_params, save_params
from reference.train import run_epochs


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="python -m gpu", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True, parser_class=OneLineParser)
    p = sub.add_parser("train", help="train on the GPU (or in the simulator)")
    cfg.add_train_arguments(p)
    add_device_arguments(p)
    p.add_argument("--save", type=Path, help="write the final parameters (.npz)")
    p.add_argument("--json", type=Path, help="write the run's record")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


def train(args: argparse.Namespace) -> int:
    config = cfg.resolve(args)
    if config.shuffle:
        raise ValueError("--shuffle: the GPU trainer keeps the training set on the device in "
                         "its stored order")
    dtype, gemm = device_choices(args)
    error = device_error()
    if error:
        raise ValueError(error)
    began = time.perf_counter()
    split = load(config.data, config.pixels, config.val_fraction, config.seed)
    net = DeviceNetwork(init_params(config.hidden, config.seed, config.init), dtype, gemm)
    X, y = net.to_device(split.train.images, split.train.labels)
    X_val, y_val = net.to_device(split.val.images, split.val.labels)
    n = len(split.train)

    def step(t: int, start: int, stop: int) -> float:
        return net.step(X[start:stop], y[start:stop], config.reg, config.lr)

    history = run_epochs(n, config.batch, config.epochs, step,
                         lambda: net.correct(X_val, y_val) / len(split.val),
                         progress=not args.quiet, print_loss=config.print_loss)
    record = {
        "implementation": f"gpu ({gemm} GEMM, {dtype})",
        "config": dict(config.as_dict(), dtype=dtype, gemm=gemm),
        "n_train": n,
        "n_val": len(split.val),
        "val_accuracy": history.val_accuracy_per_epoch[-1],
        **history.as_dict(),
        "wall_seconds": time.perf_counter() - began,
    }
    if split.test is not None:
        X_test, y_test = net.to_device(split.test.images, split.test.labels)
        record["test_accuracy"] = net.correct(X_test, y_test) / len(split.test)
    if args.save:
        save_params(net.params(), args.save)
    if args.json:
        write_json(args.json, record)
    print(f"val_accuracy {record['val_accuracy']:.4f}  {record['images_per_second']:,.0f} "
          f"images/s  ({record['implementation']})")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return train(args)
    except (DataError, ValueError, OSError) as err:
        print(f"python -m gpu {args.command}: error: {err}", file=sys.stderr)
        return EXIT_USAGE

