"""`oraclenet check gemm | grad | step | run`: the front door's commands. Each handler turns
its flags into the typed settings of oraclenet.check and prints the table; exit 0 when every
case passes, 1 when a verdict fails, 2 for usage and input errors (one line)."""

from __future__ import annotations

import argparse
from pathlib import Path

from .common.cli import EXIT_OK, finite_float, nonnegative_float, positive_float

DTYPES = ("float32", "float64")


def _dims(text: str) -> tuple[int, ...]:
    try:
        dims = tuple(int(x) for x in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected sizes like 800,10,1000, got {text!r}"
                                         ) from None
    if not dims or min(dims) < 0:
        raise argparse.ArgumentTypeError(f"sizes must be >= 0, got {text!r}")
    return dims


def _finish(outcomes, args, title: str, command: str, figures=(), most=None,
            note: str | None = None) -> int:
    from .check.report import terminal, write_report
    from .check.runner import exit_code

    print(terminal(outcomes, most))
    if note:
        print(note)
    if args.report:
        write_report(outcomes, args.report, title, command, figures, note)
        print(f"report written to {args.report / 'report.md'}")
    return exit_code(outcomes) if outcomes else EXIT_OK


RUN_FIGURES = ("steps.png",)


def _check_report(args: argparse.Namespace, figures=()) -> None:
    """Before the work: every file --report DIR will hold can be written there."""
    if args.report:
        from .check.report import folder

        folder(args.report, figures).check()


def _progress(prog: str, total: int):
    done = [0]

    def say(outcome) -> None:
        done[0] += 1
        print(f"{prog} [{done[0]}/{total}] {outcome.case} ({outcome.shape}): {outcome.status} "
              f"({outcome.seconds:.1f} s)", flush=True)

    return say


# Flags of check gemm that only one of its sources reads; given with the other, refused.
FILES_ONLY = ("alpha", "beta", "transa", "transb", "raw", "shape", "order")
IMPL_ONLY = ("convention", "arrays", "layout", "sizes", "timeout", "keep_going", "abi")


def _given(args: argparse.Namespace, names) -> list[str]:
    return [f"--{n.replace('_', '-')}" for n in names if getattr(args, n) not in (None, False)]


def cmd_check_gemm(args: argparse.Namespace) -> int:
    from .check import gemm

    _check_report(args)
    if args.files:
        ignored = _given(args, IMPL_ONLY)
        if ignored:
            raise ValueError(f"{', '.join(ignored)}: for the battery of --impl; --files is "
                             "one call")
        if args.raw is None and (args.shape or args.order):
            raise ValueError(f"{', '.join(_given(args, ('shape', 'order')))}: describe --raw "
                             "files; these files carry their own shape and order")
        files = gemm.GemmFiles(*map(Path, args.files),
                               alpha=1.0 if args.alpha is None else args.alpha,
                               beta=0.0 if args.beta is None else args.beta,
                               transa=args.transa, transb=args.transb, raw=args.raw,
                               dims=_gemm_dims(args), order=args.order or "C",
                               dtype=args.dtype, precision=args.precision)
        print(f"{args.prog}: C = {files.alpha:g} op(A) op(B) + {files.beta:g} C0"
              f"{', A transposed' if files.transa else ''}"
              f"{', B transposed' if files.transb else ''}, declared "
              f"{args.dtype or 'as C holds it'}, precision {args.precision or 'of its dtype'}",
              flush=True)
        outcomes = [gemm.judge_files(files)]
        return _finish(outcomes, args, "oraclenet check gemm --files",
                       "oraclenet check gemm --files " + " ".join(args.files))
    ignored = _given(args, FILES_ONLY)
    if ignored:
        raise ValueError(f"{', '.join(ignored)}: describe the call in --files; --impl runs "
                         "the battery's own cases")
    timeout = 300.0 if args.timeout is None else args.timeout
    target = gemm.target(args.impl, args.convention, args.arrays or "numpy", args.layout,
                         args.dtype or "float64", args.precision, timeout=timeout,
                         abi=args.abi)
    sizes = args.sizes or "quick"
    battery = gemm.battery(target, sizes)
    print(f"{args.prog}: {args.impl} as {target.convention}"
          f"{f' through the {args.abi} ABI' if args.abi else ''}, {target.arrays.layout}-major "
          f"{target.arrays.kind} arrays, {target.dtype}, precision "
          f"{target.precision or target.dtype}, sizes {sizes}", flush=True)
    outcomes = battery.check(timeout, _progress(args.prog, len(battery.cases)),
                             args.keep_going)
    return _finish(outcomes, args, f"oraclenet check gemm --impl {args.impl}",
                   f"oraclenet check gemm --impl {args.impl} --sizes {sizes}",
                   note=battery.note)


def _gemm_dims(args) -> tuple[int, int, int] | None:
    if args.shape is None:
        return None
    if len(args.shape) != 3:
        raise ValueError(f"--shape for a GEMM's files is M,N,K, got {args.shape}")
    return args.shape


NETWORK_CONVENTIONS = (
    "The network: W1 H x 784, b1 H x 1, W2 10 x H, b2 10 x 1; a batch X 784 x N (a column "
    "per image) and Y 10 x N one-hot. z1 = W1 X + b1, a1 = sigmoid(z1), z2 = W2 a1 + b2, "
    "softmax; J = the cross-entropy averaged over the N images + (reg/2)(|W1|^2 + |W2|^2), "
    "biases not regularised; a step is W := W - lr dJ/dW. Rows as samples, or "
    "lambda/(2N) in the loss (Nielsen's network2.py), are named when they are what differs.")
STEP_FILES = ("before", "after", "batch")


def cmd_check_net(args: argparse.Namespace) -> int:
    """check grad and check step."""
    from .check import network
    from .common.params import describe, first_layer

    what = args.prog.split()[-1]
    _check_report(args)
    given = [f for f in STEP_FILES if getattr(args, f, None) is not None]
    if args.impl is not None and given:
        raise ValueError(f"--{', --'.join(given)}: files of one step, judged without "
                         "--impl; give --impl or the files, not both")
    if args.impl is None and what == "step":
        missing = [f for f in (*STEP_FILES, "lr") if getattr(args, f) is None]
        if missing:
            raise ValueError(f"missing --{', --'.join(missing)}: a step is judged from "
                             "--impl MODULE:FUNCTION, or from its files --before, --after "
                             "and --batch with its --lr (and --reg, 0 unless given)")
        ignored = _given(args, ("sizes", "timeout", "keep_going"))
        if ignored:
            raise ValueError(f"{', '.join(ignored)}: for the cases of --impl; the files are "
                             "one step")
        files = network.StepFiles(args.before, args.after, args.batch, args.lr,
                                  0.0 if args.reg is None else args.reg, args.dtype)
        print(f"{args.prog}: a step of lr {files.lr:g}, reg {files.reg:g} (--reg; 0 unless "
              f"given), declared {files.dtype or 'as the after parameters hold it'}"
              + ("; the files count layers from 0: their W0 b0 W1 b1 are W1 b1 W2 b2 below"
                 if first_layer(args.after) == 0 else ""), flush=True)
        return _finish([network.judge_step_files(files)], args, "oraclenet check step --after",
                       f"oraclenet check step --before {describe(args.before)} --after "
                       f"{describe(args.after)}")
    if args.impl is None:
        raise ValueError("--impl MODULE:FUNCTION is required")
    reg = network.REG if args.reg is None else args.reg
    lr = network.LR if getattr(args, "lr", None) is None else args.lr
    dtype, sizes = args.dtype or "float64", args.sizes or "quick"
    timeout = 300.0 if args.timeout is None else args.timeout
    target = network.target(args.impl, what, dtype, reg=reg, lr=lr, timeout=timeout)
    battery = network.battery(target, sizes)
    rates = f"reg {reg:g}" + (f", lr {lr:g}" if what == "step" else "")
    print(f"{args.prog}: {args.impl} in {dtype}, {rates}", flush=True)
    outcomes = battery.check(timeout, _progress(args.prog, len(battery.cases)),
                             args.keep_going)
    return _finish(outcomes, args, f"oraclenet check {what} --impl {args.impl} ({rates})",
                   f"oraclenet check {what} --impl {args.impl} --sizes {sizes} --reg {reg:g}"
                   + (f" --lr {lr:g}" if what == "step" else ""))


def cmd_check_run(args: argparse.Namespace) -> int:
    from .check import run

    _check_report(args, RUN_FIGURES)
    found = run.read_run(args.dir)
    print(f"{args.prog}: {len(found.steps) - 1} steps of {found.settings.get('trainer', 'a run')} "
          f"in {found.dtype}, batch {found.settings['batch']}, {len(found.train)} images",
          flush=True)
    outcomes = run.check_run(found, _progress(args.prog, len(found.steps) - 1)
                             if args.verbose else lambda o: None, progress=not args.verbose)
    figures = []
    if args.report:
        from .check.report import folder

        run.plot_steps(outcomes, folder(args.report, RUN_FIGURES).file("steps.png"))
        figures.append("steps.png")
    return _finish(outcomes, args, f"oraclenet check run {args.dir}",
                   f"oraclenet check run {args.dir}", figures, most=RUN_TABLE_MOST)


RUN_TABLE_MOST = 30  # steps on the terminal, failing ones first; all of them in --report


def add_commands(tree, sub) -> None:
    """The `check` group."""
    from .check.arrays import KINDS, LAYOUTS
    from .check.gemm import CONVENTIONS, SIZES
    from .check.native import ABIS
    from .judge.precision import FORMATS

    group = tree.group(sub, "check", "judge your own implementation: check gemm | grad | step "
                                     "| run")
    p = tree.command(group, "gemm", cmd_check_gemm,
                     "judge a GEMM: a Python callable through a battery of cases, or one call "
                     "dumped to files by any program")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--impl", metavar="MODULE:FUNCTION",
                        help="the GEMM to call (also path/to/file.py:FUNCTION, or "
                             "path/to/libmine.so:SYMBOL with --abi)")
    source.add_argument("--files", nargs=4, metavar=("A", "B", "C0", "C"),
                        help="one call: A and B as stored, C before (C0) and after (C); .npy, "
                             ".npz, .mat, Armadillo (arma_binary, raw_ascii, csv_ascii) or "
                             "raw binary with --raw")
    p.add_argument("--convention", choices=CONVENTIONS,
                   help="inplace: f(C, A, B, alpha, beta); inplace-trans: f(C, A, B, alpha, "
                        "beta, transa, transb), transa and transb Python bools (A, B stored "
                        "transposed where True); product: f(A, B) -> C (default inplace). C "
                        "is not read when beta is 0: it may hold NaN")
    p.add_argument("--abi", choices=ABIS,
                   help="--impl is a compiled library's SYMBOL, called with ctypes: course: "
                        "int f(T *A, T *B, T *C, T *alpha, T *beta, int M, int N, int K), "
                        "column-major; cblas: cblas_sgemm's or cblas_dgemm's signature, in "
                        "--layout's order; T is --dtype's float or double")
    p.add_argument("--arrays", choices=KINDS,
                   help="what it takes: host numpy arrays, or Numba or CuPy device arrays")
    p.add_argument("--layout", choices=LAYOUTS,
                   help="row (C order) or col (Fortran order, the course's column-major)")
    p.add_argument("--dtype", choices=DTYPES,
                   help="the GEMM's declared dtype: a C coarser than it fails (default "
                        "float64; with --files: C's own, text as float64)")
    p.add_argument("--precision", choices=list(FORMATS),
                   help="the precision it is meant to have (default: its dtype's)")
    p.add_argument("--sizes", choices=SIZES,
                   help="quick (seconds; M, N and K each up to 300), medium (adds the "
                        "course's K = 784 on thin products: for Numba's simulator), course "
                        "(adds the course's 800x1000x784 and 800x10x1000 ten-call chains and "
                        "the network's shapes), full (default quick)")
    p.add_argument("--timeout", type=positive_float,
                   help="seconds per case (and for importing --impl) before it counts as "
                        "hung (300)")
    p.add_argument("--keep-going", action="store_true",
                   help="run every case even after one hangs (by default the rest are "
                        "skipped: each would cost its whole --timeout)")
    p.add_argument("--alpha", type=finite_float, help="with --files (1)")
    p.add_argument("--beta", type=finite_float, help="with --files (0)")
    p.add_argument("--transa", action="store_true", help="with --files: A is stored as op(A)^T")
    p.add_argument("--transb", action="store_true", help="with --files: B is stored as op(B)^T")
    p.add_argument("--raw", choices=DTYPES,
                   help="with --files: headerless little-endian binary of this type")
    p.add_argument("--shape", type=_dims, metavar="M,N,K", help="with --raw: the GEMM's sizes")
    p.add_argument("--order", choices=("C", "F"),
                   help="with --raw: row-major (C) or column-major (F) files (C)")
    p.add_argument("--report", type=Path, help="write report.md, report.json and heat maps here")

    for what, call, help in (
            ("grad", "f(W1, b1, W2, b2, X, Y, reg) -> (dW1, db1, dW2, db2)",
             "judge a backprop against the oracle's gradient (both tiers, effective bits) and "
             "by central differences with the V-curve"),
            ("step", "f(W1, b1, W2, b2, X, Y, lr, reg) -> (W1, b1, W2, b2)",
             "judge one SGD step, from a callable or from files (parameters before and after, "
             "the batch)")):
        p = tree.command(group, what, cmd_check_net, help)
        p.epilog = NETWORK_CONVENTIONS
        p.add_argument("--impl", metavar="MODULE:FUNCTION", help=f"the function: {call}")
        files = what == "step"
        p.add_argument("--dtype", choices=DTYPES,
                       help="the declared dtype: what --impl is given and must return "
                            "(float64)" + (", or what the step in the files computed in (the "
                                           "after file's own)" if files else "")
                            + "; a result coarser than it fails")
        p.add_argument("--sizes", choices=SIZES,
                       help="quick, medium (adds H 64), course (adds H 64 and 100) or "
                            "full (default quick)")
        p.add_argument("--timeout", type=positive_float,
                       help="seconds per case (and for importing --impl) before it counts "
                            "as hung (300)")
        p.add_argument("--keep-going", action="store_true",
                       help="run every case even after one hangs")
        p.add_argument("--report", type=Path, help="write report.md and report.json here")
        p.add_argument("--reg", type=nonnegative_float,
                       help="lambda, the L2 weight: what --impl is called with (default 0.01)"
                            + (", or what the step in the files used (default 0)"
                               if files else ""))
        if what == "step":
            p.add_argument("--before", type=Path, nargs="+", metavar="PARAMS",
                           help="parameters before the step: one .npz or .mat (MATLAB v4 to "
                                "v7.3) holding W1 b1 W2 b2, or a folder or a list of files "
                                "of one matrix each in any format --files of check gemm "
                                "reads, named W1 b1 W2 b2, or W0 b0 W1 b1 (also W[0], W_0) "
                                "where layers count from 0 as in the course's C++ code; a "
                                "prefix and a -N suffix shared by the set are allowed "
                                "(SequentialW0-3.mat)")
            p.add_argument("--after", type=Path, nargs="+", metavar="PARAMS",
                           help="parameters after the step, as --before")
            p.add_argument("--batch", type=Path, help="the batch: .npz or .mat holding X "
                                                      "(784 x N) and Y (10 x N) or labels (N), "
                                                      "or a folder of one file each (X.mat, "
                                                      "Y.mat) in any format")
            p.add_argument("--lr", type=positive_float,
                           help="the learning rate: what --impl is called with (default 0.5), "
                                "or what the step in the files used (required)")

    p = tree.command(group, "run", cmd_check_run,
                     "judge every step of a whole training run from its dump directory "
                     "(run.json, data.npz, params-0000.npz, ...: any trainer's --dump-dir; "
                     "a step's parameters may also be params-NNNN.mat or a folder params-NNNN "
                     "of one file per matrix, as check step --before reads them)")
    p.add_argument("dir", type=Path, help="the run's directory")
    p.add_argument("--verbose", action="store_true", help="a line per step as it is judged")
    p.add_argument("--report", type=Path,
                   help="write report.md, report.json and the worst ratio per step (steps.png)")
