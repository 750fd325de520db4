"""`oraclenet check gemm | grad | step | run`: the front door's commands. Each handler turns
its flags into the typed settings of oraclenet.check and prints the table; exit 0 when every
case passes, 1 when a verdict fails, 2 for usage and input errors (one line)."""

from __future__ import annotations

import argparse
from pathlib import Path

from .common.cli import EXIT_OK, positive_float

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


def _finish(outcomes, args, title: str, command: str) -> int:
    from .check.report import terminal, write_report
    from .check.runner import exit_code

    print(terminal(outcomes))
    if args.report:
        write_report(outcomes, args.report, title, command)
        print(f"report written to {args.report / 'report.md'}")
    return exit_code(outcomes) if outcomes else EXIT_OK


def _progress(prog: str, total: int):
    done = [0]

    def say(outcome) -> None:
        done[0] += 1
        print(f"{prog} [{done[0]}/{total}] {outcome.case} ({outcome.shape}): {outcome.status} "
              f"({outcome.seconds:.1f} s)", flush=True)

    return say


def cmd_check_gemm(args: argparse.Namespace) -> int:
    import numpy as np

    from .check import gemm
    from .check.arrays import Arrays
    from .check.runner import run_cases
    from .check.target import check_arity, load_callable
    from .common.files import check_output

    if args.report:
        check_output(args.report / "report.md")
    if args.files:
        files = gemm.GemmFiles(*map(Path, args.files), alpha=args.alpha, beta=args.beta,
                               transa=args.transa, transb=args.transb, raw=args.raw,
                               dims=_gemm_dims(args), order=args.order,
                               dtype=args.dtype, precision=args.precision)
        outcomes = [gemm.judge_files(files)]
        return _finish(outcomes, args, "oraclenet check gemm --files",
                       "oraclenet check gemm --files " + " ".join(args.files))
    if args.raw or args.shape:
        raise ValueError("--raw and --shape read --files; with --impl they mean nothing")
    func = load_callable(args.impl)
    check_arity(func, gemm.CONVENTIONS[args.convention], args.impl, args.convention)
    target = gemm.GemmTarget(func, args.convention, Arrays(args.arrays, args.layout),
                             np.dtype(args.dtype or "float64"), args.precision)
    cases = gemm.battery(args.sizes, args.convention)
    outcomes = run_cases(lambda case: gemm.run_case(target, case), cases,
                         [c.name for c in cases], [c.shape for c in cases], args.timeout,
                         _progress(args.prog, len(cases)))
    return _finish(outcomes, args, f"oraclenet check gemm --impl {args.impl}",
                   f"oraclenet check gemm --impl {args.impl} --sizes {args.sizes}")


def _gemm_dims(args) -> tuple[int, int, int] | None:
    if args.shape is None:
        return None
    if len(args.shape) != 3:
        raise ValueError(f"--shape for a GEMM's files is M,N,K, got {args.shape}")
    return args.shape


def add_commands(tree, sub) -> None:
    """The `check` group."""
    from .check.arrays import KINDS, LAYOUTS
    from .check.gemm import CONVENTIONS, SIZES
    from .judge.precision import FORMATS

    group = tree.group(sub, "check", "judge your own implementation: check gemm | grad | step "
                                     "| run")
    p = tree.command(group, "gemm", cmd_check_gemm,
                     "judge a GEMM: a Python callable through a battery of cases, or one call "
                     "dumped to files by any program")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--impl", metavar="MODULE:FUNCTION",
                        help="the GEMM to call (also path/to/file.py:FUNCTION)")
    source.add_argument("--files", nargs=4, metavar=("A", "B", "C0", "C"),
                        help="one call: A and B as stored, C before (C0) and after (C); .npy, "
                             ".npz, .mat, Armadillo (arma_binary, raw_ascii, csv_ascii) or "
                             "raw binary with --raw")
    p.add_argument("--convention", choices=CONVENTIONS, default="inplace",
                   help="inplace: f(C, A, B, alpha, beta); inplace-trans: f(C, A, B, alpha, "
                        "beta, transa, transb); product: f(A, B) -> C (default inplace)")
    p.add_argument("--arrays", choices=KINDS, default="numpy",
                   help="what it takes: host numpy arrays, or Numba or CuPy device arrays")
    p.add_argument("--layout", choices=LAYOUTS, default="row",
                   help="row (C order) or col (Fortran order, the course's column-major)")
    p.add_argument("--dtype", choices=DTYPES, help="the GEMM's dtype (default float64; with "
                                                   "--files: C's own, text as float64)")
    p.add_argument("--precision", choices=list(FORMATS),
                   help="the precision it is meant to have (default: its dtype's)")
    p.add_argument("--sizes", choices=SIZES, default="quick",
                   help="quick (seconds), course (adds the course's 800x1000x784 and 800x10x1000 "
                        "ten-call chains and the network's shapes), full (default quick)")
    p.add_argument("--timeout", type=positive_float, default=300.0,
                   help="seconds per case before it counts as hung (300)")
    p.add_argument("--alpha", type=float, default=1.0, help="with --files (1)")
    p.add_argument("--beta", type=float, default=0.0, help="with --files (0)")
    p.add_argument("--transa", action="store_true", help="with --files: A is stored as op(A)^T")
    p.add_argument("--transb", action="store_true", help="with --files: B is stored as op(B)^T")
    p.add_argument("--raw", choices=DTYPES,
                   help="with --files: headerless little-endian binary of this type")
    p.add_argument("--shape", type=_dims, metavar="M,N,K", help="with --raw: the GEMM's sizes")
    p.add_argument("--order", choices=("C", "F"), default="C",
                   help="with --raw: row-major (C) or column-major (F) files (C)")
    p.add_argument("--report", type=Path, help="write report.md, report.json and heat maps here")
