"""oraclenet: tells roundoff from bugs in your GEMMs, backprops, training steps and MPI
trainers, against a float64 oracle.

The `oraclenet` command is one argparse tree for every room's commands:

    oraclenet train | gradcheck | bench | verify | separation
    oraclenet gpu train | bench | ptx
    oraclenet mpi train | bench        (mpi train under mpiexec -n P)

Each handler turns its flags into the typed settings of a library function and calls it.
Bad input gives one line on stderr and exit code 2, never a traceback; a verdict that fails
gives exit code 1. The command tunes its own process before numpy loads
(common/process.py); nothing is imported until the tree is built.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .common.cli import (
    EXIT_DIVERGED,
    EXIT_FAILED,
    EXIT_OK,
    OneLineParser,
    UsageError,
    nonnegative_int,
    positive_float,
    positive_int,
    say_error,
)
from .common.process import exit_on_sigterm, quiet_float_warnings, tune_for_speed
from .gpu.target import tune_simulator

MPI_TRAIN = "oraclenet mpi train"
SECTIONS = ("oracle", "gradcheck", "mpi", "gpu", "separation")  # verify.SECTIONS, without numpy


# --- the oracle and the judge -------------------------------------------------------------

def _check_outputs(*paths: Path | None) -> None:
    """Refuse an output that cannot be written, before the work that would fill it."""
    from .common.files import check_output

    for path in paths:
        if path is not None:
            check_output(path)


def cmd_train(args: argparse.Namespace) -> int:
    from .common.config import resolve
    from .common.dump import check_dump_dir
    from .common.files import write_json
    from .common.params import save_params
    from .common.record import summary_line
    from .reference.train import run_training

    if args.init_from:
        _check_init_from(args)
    config = resolve(args)
    _check_outputs(args.save, args.json)
    if args.dump_dir:
        check_dump_dir(args.dump_dir, config)
    record, params = run_training(config, progress=not args.quiet, init_from=args.init_from,
                                  dump_dir=args.dump_dir)
    if args.save:
        save_params(params, args.save)
    if args.json:
        write_json(args.json, record)
    print(summary_line(record))
    return EXIT_OK


def _check_init_from(args: argparse.Namespace) -> None:
    """--init-from decides the starting parameters and their width: refuse flags that would
    decide them otherwise and be ignored."""
    from .common.config import PRESETS
    from .common.data import DataError
    from .common.params import load_params

    if not args.init_from.exists():
        raise DataError(f"--init-from {args.init_from}: no such file or folder")
    if args.init is not None:
        raise ValueError("--init draws the starting parameters and --init-from reads them; "
                         "give one")
    hidden = PRESETS.get(args.preset, {}).get("hidden") if args.hidden is None else args.hidden
    if hidden is not None:
        found = load_params(args.init_from).hidden
        if found != hidden:
            flag = f"-n {hidden}" if args.hidden is not None else f"--preset {args.preset}'s H "\
                f"= {hidden}"
            raise ValueError(f"{flag}, but --init-from {args.init_from} holds H = {found}")


def cmd_gradcheck(args: argparse.Namespace) -> int:
    from .judge import gradcheck

    settings = gradcheck.Settings(hidden=args.hidden, batch=args.batch, reg=args.reg,
                                  seed=args.seed, data=args.data, max_entries=args.max_entries)
    gradcheck.report_folder(args.report).check()
    report = gradcheck.run(settings)
    gradcheck.write_report(report, args.report)
    print(gradcheck.report_markdown(report))
    print(f"report written to {args.report / 'report.md'}")
    return EXIT_OK if report.passed else EXIT_FAILED


def cmd_bench(args: argparse.Namespace) -> int:
    from .common.files import write_json
    from .reference import bench

    _check_outputs(args.json)
    result = bench.run(bench.Settings(images=args.images, hidden=args.hidden,
                                      batch=args.batch, rounds=args.rounds,
                                      square=args.square, target=args.target))
    print(bench.report(result))
    if args.json:
        write_json(args.json, result)
    return EXIT_OK if result["passed"] else EXIT_FAILED


def cmd_verify(args: argparse.Namespace) -> int:
    from .gpu.target import choose

    choose()  # the separation section runs kernels: on a GPU, else in the simulator
    from . import verify

    return verify.run(args.out, args.section or list(SECTIONS))


def cmd_separation(args: argparse.Namespace) -> int:
    from .gpu.target import choose

    kernels_on = choose()  # on a GPU, else in the simulator (before numba loads)
    from .corpus import cases, separation
    from .judge.tolerances import tolerance

    separation.folder(args.out).check()
    margin = tolerance("teeth.min_bug_ratio") if args.margin is None else args.margin
    result = separation.run(cases.all_cases(args.quick), args.out, margin,
                            f"oraclenet separation{' --quick' if args.quick else ''}",
                            kernels_on,
                            say=lambda line: print(f"separation: {line}", flush=True))
    print((args.out / "separation.md").read_text())
    return EXIT_OK if separation.met(result["targets"]) else EXIT_FAILED


# --- the GPU ------------------------------------------------------------------------------

def cmd_gpu_train(args: argparse.Namespace) -> int:
    from .common.config import resolve
    from .common.dump import check_dump_dir
    from .common.files import write_json
    from .common.params import save_params
    from .common.record import summary_line
    from .gpu.options import device_from
    from .gpu.train import run_training

    config = resolve(args)
    _check_outputs(args.save, args.json)
    if args.dump_dir:
        check_dump_dir(args.dump_dir, config)
    record, params = run_training(config, device_from(args), progress=not args.quiet,
                                  dump_dir=args.dump_dir)
    if args.save:
        save_params(params, args.save)
    if args.json:
        write_json(args.json, record)
    print(summary_line(record))
    return EXIT_OK


def cmd_gpu_bench(args: argparse.Namespace) -> int:
    from .gpu import bench

    bench.folder(args.out).check()
    return bench.run(bench.Settings(repeats=args.repeats, images=args.images,
                                    epochs=args.epochs, oracle_cores=args.oracle_cores,
                                    out=args.out))


def cmd_gpu_ptx(args: argparse.Namespace) -> int:
    from .gpu import ptx
    from .gpu.options import simulated

    if simulated():
        raise ValueError("PTX is compiled by the real CUDA target: unset NUMBA_ENABLE_CUDASIM")
    _check_outputs(args.report)
    return ptx.run(args.report)


# --- MPI ----------------------------------------------------------------------------------

def cmd_mpi_train(args: argparse.Namespace) -> int:
    from .common.config import resolve
    from .parallel import train

    try:
        config, options = resolve(args), train.options_from(args)
    except ValueError as err:  # every rank must hear of it before any exits
        return train.main(None, None, str(err))
    return train.main(config, options)


def cmd_mpi_bench(args: argparse.Namespace) -> int:
    from .parallel import bench

    bench.folder(args.out).check()
    return bench.run(bench.Settings(images=args.images, hidden=args.hidden, batch=args.batch,
                                    epochs=args.epochs, out=args.out, timeout=args.timeout))


# --- the tree -----------------------------------------------------------------------------

class _Tree:
    """Builds the tree and remembers every command with its help, for the listings."""

    def __init__(self):
        self.commands: list[tuple[str, str]] = []
        self.groups: list[argparse.ArgumentParser] = []

    def command(self, sub, name: str, run, help: str) -> argparse.ArgumentParser:
        parser = sub.add_parser(name, description=help)
        parser.set_defaults(run=run, prog=parser.prog)
        self.commands.append((parser.prog, help))
        return parser

    def group(self, sub, name: str, help: str):
        parser = sub.add_parser(name, description=help,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
        self.groups.append(parser)
        return parser.add_subparsers(dest=f"{name}_command", required=True, metavar="COMMAND",
                                     parser_class=OneLineParser)

    def listing(self, parser: argparse.ArgumentParser) -> str:
        """The commands under parser, a line each."""
        width = max(len(prog) for prog, _ in self.commands) + 2
        return "commands:\n" + "\n".join(f"  {prog:{width}s}{help}"
                                           for prog, help in self.commands
                                           if prog.startswith(parser.prog + " "))


def _train_outputs(p: argparse.ArgumentParser) -> None:
    p.add_argument("--save", type=Path, help="write the final parameters to this .npz")
    p.add_argument("--json", type=Path, help="write the run's record (loss, accuracy, speed)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--dump-dir", type=Path, help="write the run step by step into this new "
                   "directory, as `oraclenet check run` reads it")


def build_parser() -> argparse.ArgumentParser:
    from .cli_check import add_commands as add_check_commands
    from .cli_regress import add_commands as add_regress_commands
    from .common.config import add_train_arguments
    from .gpu.options import add_device_arguments
    from .parallel.train import add_arguments as add_mpi_train_arguments

    tree = _Tree()
    parser = OneLineParser(prog="oraclenet", description=__doc__.split("\n\n")[0],
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND",
                                parser_class=OneLineParser)

    p = tree.command(sub, "train", cmd_train, "train the float64 oracle")
    add_train_arguments(p)
    _train_outputs(p)
    p.add_argument("--init-from", type=Path,
                   help="start from parameters: a file saved with --save (or any .npz or .mat "
                        "holding W1 b1 W2 b2), or a folder of one file per matrix, as C++ "
                        "programs write them (check step's readers)")

    p = tree.command(sub, "gradcheck", cmd_gradcheck,
                     "finite-difference gradient check of the oracle, with a report")
    p.add_argument("-n", "--hidden", type=positive_int, default=8, help="hidden width (8)")
    p.add_argument("--batch", type=positive_int, default=16, help="images in the batch (16)")
    p.add_argument("-r", "--reg", metavar="LAMBDA", type=positive_float,
                   default=1e-2, help="lambda; positive so that the L2 term is checked (1e-2)")
    p.add_argument("--seed", type=nonnegative_int, default=0, help="seed (0)")
    p.add_argument("--data", default="mnist5k", help="'mnist5k' or an IDX directory")
    p.add_argument("--max-entries", type=positive_int, default=20000,
                   help="check every entry of a block up to this many, else a seeded sample")
    p.add_argument("--report", type=Path, required=True, help="directory for the report")

    p = tree.command(sub, "bench", cmd_bench,
                 "the oracle's epoch rate against numpy's own GEMM rate (timings, no test)")
    p.add_argument("--images", type=positive_int, default=60000)
    p.add_argument("-n", "--hidden", type=positive_int, default=1000)
    p.add_argument("-b", "--batch", type=positive_int, default=800)
    p.add_argument("--rounds", type=positive_int, default=10,
                   help="rounds of one epoch and as long of GEMMs, after a warm-up (10)")
    p.add_argument("--square", type=positive_int, default=4096, help="GEMM size (4096)")
    p.add_argument("--target", type=positive_float, default=0.8,
                   help="required epoch rate as a fraction of the GEMM rate (0.8)")
    p.add_argument("--json", type=Path, help="write the result")

    p = tree.command(sub, "verify", cmd_verify,
                 "the main job: train, gradient-check, and run the MPI and GPU suites into "
                 "OUT/index.md")
    p.add_argument("--out", type=Path, default=Path("reports/verify"),
                   help="the report's folder (default reports/verify); the whole run takes "
                        "tens of minutes on 2 cores without a GPU, the MPI section minutes")
    p.add_argument("--section", action="append", choices=SECTIONS,
                   help="only this section (repeatable; default: all, in this order: "
                        f"{', '.join(SECTIONS)})")

    p = tree.command(sub, "separation", cmd_separation,
                     "roundoff or bug? every check family on a corpus of honest variants and "
                     "planted bugs: OUT/separation.json, .md, .png")
    p.add_argument("--out", type=Path, default=Path("reports/separation"),
                   help="the report's folder (default reports/separation)")
    p.add_argument("--quick", action="store_true", help="a small subset (the test suite's)")
    p.add_argument("--margin", type=positive_float, default=None,
                   help="the margin every family must reach in some tier (default: "
                        "tolerances.toml [teeth] min_bug_ratio, 100)")

    add_check_commands(tree, sub)
    add_regress_commands(tree, sub)

    gpu = tree.group(sub, "gpu", "the CUDA kernels: gpu train | bench | ptx")
    p = tree.command(gpu, "train", cmd_gpu_train,
                 "train on the GPU, or in Numba's simulator (NUMBA_ENABLE_CUDASIM=1)")
    add_train_arguments(p)
    add_device_arguments(p)
    _train_outputs(p)
    p = tree.command(gpu, "bench", cmd_gpu_bench,
                 "GEMM GFLOP/s against cuBLAS and trainer images/s against the oracle "
                 "(needs a GPU): OUT/gpu-results.md, .json, .png")
    p.add_argument("--repeats", type=positive_int, default=20)
    p.add_argument("--images", type=positive_int, default=60000)
    p.add_argument("--epochs", type=positive_int, default=3)
    p.add_argument("--oracle-cores", type=positive_int, default=2,
                   help="CPU cores the oracle is measured on (2)")
    p.add_argument("--out", type=Path, default=Path("docs"))
    p = tree.command(gpu, "ptx", cmd_gpu_ptx,
                 "compile every kernel to PTX for sm_90, without a GPU; report resources")
    p.add_argument("--report", type=Path, help="also write the table as markdown")

    mpi = tree.group(sub, "mpi", "the MPI trainers: mpi train (under mpiexec) | bench")
    p = tree.command(mpi, "train", cmd_mpi_train,
                 "under `mpiexec -n P`: data or model parallelism, numpy or --gpu")
    add_mpi_train_arguments(p)
    p = tree.command(mpi, "bench", cmd_mpi_bench,
                 "both strategies at P = 1..4 (it starts mpiexec itself) and the cost model")
    p.add_argument("--images", type=positive_int, default=60000)
    p.add_argument("-n", "--hidden", type=positive_int, default=1000)
    p.add_argument("-b", "--batch", type=positive_int, default=800)
    p.add_argument("--epochs", type=positive_int, default=2, help="timed, after a warm-up")
    p.add_argument("--out", type=Path, default=Path("reports/mpi"))
    p.add_argument("--timeout", type=positive_float, default=600.0, metavar="SECONDS",
                   help="end an MPI run when a rank makes no progress for this long (600)")

    for listed in (parser, *tree.groups):
        listed.epilog = tree.listing(listed)
    return parser


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("oraclenet")
    except PackageNotFoundError:
        return "(not installed)"


def main(argv: list[str] | None = None) -> int:
    tune_for_speed()
    tune_simulator()
    exit_on_sigterm()
    quiet_float_warnings()
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except UsageError as err:
        if err.prog == MPI_TRAIN:  # every rank must hear of it before any exits
            from .parallel import train

            return train.main(None, None, str(err))
        return say_error(err.prog, err)
    from .common.loop import Diverged

    try:
        return args.run(args)
    except Diverged as err:
        say_error(args.prog, f"training diverged at {err} (--allow-divergence goes on)")
        return EXIT_DIVERGED
    except (ValueError, OSError) as err:  # DataError, ToleranceError, bad files and values
        return say_error(args.prog, err)
    except KeyboardInterrupt:
        print(f"{args.prog}: interrupted", file=sys.stderr)
        return 130
