"""``python -m reference train | gradcheck | bench | verify``.

Bad input gives one line on stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

from reference import config as cfg
from reference.data import DataError, load
from reference.files import write_json
from reference.network import accuracy
from reference.params import Params, init_params, load_params, save_params
from reference.tolerances import ToleranceError
from reference.train import train

EXIT_USAGE = 2


class OneLineParser(argparse.ArgumentParser):
    """argparse, but an error is one line naming the flag at fault."""

    def error(self, message: str) -> None:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see --help)\n")


def run_training(config: cfg.TrainConfig, *, progress: bool = True, init_from: Path | None = None
                 ) -> tuple[dict, Params]:
    """Load data, initialise, train; returns (the --json record, the final parameters)."""
    began = time.perf_counter()
    split = load(config.data, config.pixels, config.val_fraction, config.seed)
    if init_from:
        params = load_params(init_from)
        config = replace(config, hidden=params.hidden)  # the file decides the width
    else:
        params = init_params(config.hidden, config.seed, config.init)
    history = train(params, split.train, split.val, epochs=config.epochs, batch=config.batch,
                    lr=config.lr, lam=config.reg, seed=config.seed, shuffle=config.shuffle,
                    progress=progress, print_loss=config.print_loss)
    record = {
        "implementation": "reference (numpy float64)",
        "config": config.as_dict(),
        "n_train": len(split.train),
        "n_val": len(split.val),
        "val_accuracy": history.val_accuracy_per_epoch[-1],
        **history.as_dict(),
        "wall_seconds": time.perf_counter() - began,
    }
    if split.test is not None:
        record["test_accuracy"] = accuracy(params, split.test.X, split.test.labels)
    return record, params


def cmd_train(args: argparse.Namespace) -> int:
    config = cfg.resolve(args)
    if args.init_from and not args.init_from.is_file():
        raise DataError(f"--init-from {args.init_from}: no such file")
    record, params = run_training(config, progress=not args.quiet, init_from=args.init_from)
    if args.save:
        save_params(params, args.save)
    if args.json:
        write_json(args.json, record)
    print(f"val_accuracy {record['val_accuracy']:.4f}  final loss {record['train_loss'][-1]:.4f}"
          f"  {record['images_per_second']:,.0f} images/s  {record['wall_seconds']:.1f} s")
    return 0


def cmd_gradcheck(args: argparse.Namespace) -> int:
    from reference.gradcheck import run_report

    return 0 if run_report(args).passed else 1


def cmd_bench(args: argparse.Namespace) -> int:
    from reference.bench import run_bench

    return run_bench(args)


def cmd_verify(args: argparse.Namespace) -> int:
    from reference.verify import run_verify

    return run_verify(args)


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="python -m reference", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True, parser_class=OneLineParser)

    p = sub.add_parser("train", help="train the float64 oracle")
    cfg.add_train_arguments(p)
    p.add_argument("--save", type=Path, help="write the final parameters to this .npz")
    p.add_argument("--init-from", type=Path, help="start from parameters saved with --save")
    p.add_argument("--json", type=Path, help="write the run's record (loss, accuracy, speed)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("gradcheck", help="finite-difference gradient check with a report")
    p.add_argument("-n", "--hidden", type=cfg.positive_int, default=8, help="hidden width (8)")
    p.add_argument("--batch", type=cfg.positive_int, default=16, help="images in the batch (16)")
    p.add_argument("-r", "--reg", type=cfg.positive_float, default=1e-2,
                   help="lambda; positive so that the L2 term is checked (1e-2)")
    p.add_argument("--seed", type=cfg.nonnegative_int, default=0, help="seed (0)")
    p.add_argument("--data", default="mnist5k", help="'mnist5k' or an IDX directory")
    p.add_argument("--max-entries", type=cfg.positive_int, default=20000,
                   help="check every entry of a block up to this many, else a seeded sample")
    p.add_argument("--report", type=Path, required=True, help="directory for the report")
    p.set_defaults(func=cmd_gradcheck)

    p = sub.add_parser("bench", help="epoch throughput against numpy's own GEMM rate")
    p.add_argument("--images", type=cfg.positive_int, default=60000)
    p.add_argument("-n", "--hidden", type=cfg.positive_int, default=1000)
    p.add_argument("-b", "--batch", type=cfg.positive_int, default=800)
    p.add_argument("--epochs", type=cfg.positive_int, default=10,
                   help="rounds of one epoch and as long of GEMMs, after a warm-up (10)")
    p.add_argument("--square", type=cfg.positive_int, default=4096, help="GEMM size")
    p.add_argument("--target", type=cfg.positive_float, default=0.8,
                   help="required epoch rate as a fraction of the GEMM rate (0.8)")
    p.add_argument("--json", type=Path)
    p.set_defaults(func=cmd_bench)

    p = sub.add_parser("verify", help="train, gradient-check and write reports/verify/index.md")
    p.add_argument("--out", type=Path, default=Path("reports/verify"))
    p.set_defaults(func=cmd_verify)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (DataError, ToleranceError, ValueError, OSError) as err:
        print(f"{parser.prog} {args.command}: error: {err}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"{parser.prog} {args.command}: interrupted", file=sys.stderr)
        return 130
