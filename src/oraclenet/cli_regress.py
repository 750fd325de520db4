"""`oraclenet regress record | check`: the handlers turn flags into regress.session.Settings
and print the findings; exit 0 when consistent, 1 when a regression is found, 2 for usage
and input errors (a corrupt or incomplete baseline among them: one line)."""

from __future__ import annotations

import argparse
from pathlib import Path

from .common.cli import EXIT_FAILED, EXIT_OK, positive_float, positive_int

GEMM_DEFAULTS = {"convention": "inplace", "arrays": "numpy", "layout": "row"}
# Flags that only our own baseline's subjects read, and flags that only --impl reads: given
# (away from their defaults) where they do not apply, refused rather than ignored.
OURS_DEFAULTS = {"ranks": None, "gemm": "naive"}
IMPL_DEFAULTS = {"dtype": "float64", "timeout": 300.0}


def _differ(args: argparse.Namespace, defaults: dict) -> list[str]:
    return [f"--{name}" for name, default in defaults.items() if getattr(args, name) != default]


def _settings(args: argparse.Namespace, directory: Path):
    from .regress.session import Settings

    if args.kind == "gemm" and args.impl is None:
        raise ValueError("--kind gemm describes --impl; give --impl MODULE:FUNCTION")
    if args.run_dir is not None and args.impl is not None:
        raise ValueError("--run and --impl name two different subjects; give one")
    gemm_only = [f"--{name}" for name, default in GEMM_DEFAULTS.items()
                 if getattr(args, name) != default]
    if gemm_only and args.kind != "gemm":
        raise ValueError(f"{', '.join(gemm_only)}: only for a GEMM, with --kind gemm")
    ours_only = _differ(args, OURS_DEFAULTS)
    if ours_only and (args.run_dir is not None or args.impl is not None):
        raise ValueError(f"{', '.join(ours_only)}: for our own baseline's MPI and device runs; "
                         "--run and --impl name an outside subject")
    impl_only = _differ(args, IMPL_DEFAULTS)
    if impl_only and args.impl is None:
        raise ValueError(f"{', '.join(impl_only)}: describe --impl; give --impl "
                         "MODULE:FUNCTION")
    if not args.speed and args.run_dir is not None:
        raise ValueError("--no-speed: an outside run's baseline has no speed to measure")
    return Settings(directory, quick=args.quick, ranks=args.ranks, run=args.run_dir, impl=args.impl,
                    kind=args.kind, dtype=args.dtype, convention=args.convention,
                    arrays=args.arrays, layout=args.layout, gpu_gemm=args.gemm,
                    speed=args.speed, report=getattr(args, "report", None),
                    timeout=args.timeout)



def _say(prog: str):
    return lambda text: print(f"{prog}: {text}", flush=True)


def cmd_regress_record(args: argparse.Namespace) -> int:
    from .gpu.target import choose

    choose()  # the fingerprints run the GPU kernels: on a GPU, else in the simulator
    from .regress import session

    session.record(_settings(args, args.out), _say(args.prog))
    print(f"{args.prog}: baseline written to {args.out}")
    return EXIT_OK


def cmd_regress_check(args: argparse.Namespace) -> int:
    from .gpu.target import choose

    choose()
    from .regress import session

    findings = session.check(_settings(args, args.baseline), _say(args.prog))
    print(session.terminal(findings))
    if args.report:
        print(f"report written to {args.report / 'report.md'}")
    return EXIT_FAILED if session.regressions(findings) else EXIT_OK


def add_commands(tree, sub) -> None:
    """The `regress` group."""
    from .check.arrays import KINDS, LAYOUTS
    from .check.gemm import CONVENTIONS

    group = tree.group(sub, "regress", "regression runs before submission: regress record | "
                                       "check")
    for name, handler, help in (
            ("record", cmd_regress_record,
             "record a baseline (meant to be committed): trajectories and their roundoff "
             "ensembles, correctness fingerprints, accuracy, speed"),
            ("check", cmd_regress_check,
             "rerun and judge against a baseline: by ensemble consistency, not bit "
             "equality; speed by a rank test on the same machine")):
        p = tree.command(group, name, handler, help)
        if name == "record":
            p.add_argument("--out", type=Path, required=True, help="the baseline directory")
        else:
            p.add_argument("--baseline", type=Path, required=True,
                           help="the baseline directory")
            p.add_argument("--report", type=Path,
                           help="write report.md, report.json and the ensemble bands here")
        p.add_argument("--quick", action="store_true",
                       help="one epoch and a smaller ensemble (the check must match the "
                            "baseline)")
        p.add_argument("--ranks", type=positive_int,
                       help="MPI ranks of the MPI trajectories (record: 2 and 3; check: each "
                            "at the P it was recorded at)")
        p.add_argument("--run", dest="run_dir", type=Path,
                       help="an outside run directory (check run's format) instead of ours")
        p.add_argument("--impl", metavar="MODULE:FUNCTION",
                       help="an outside training step (or GEMM, with --kind gemm) instead of "
                            "ours")
        p.add_argument("--kind", choices=("step", "gemm"), default="step",
                       help="what --impl is (step)")
        p.add_argument("--dtype", choices=("float32", "float64"), default="float64",
                       help="the dtype --impl computes in (float64)")
        p.add_argument("--convention", choices=CONVENTIONS, default="inplace",
                       help="how a GEMM is called, as for `check gemm` (inplace)")
        p.add_argument("--arrays", choices=KINDS, default="numpy",
                       help="what a GEMM takes: host numpy arrays, or Numba or CuPy device "
                            "arrays (numpy)")
        p.add_argument("--layout", choices=LAYOUTS, default="row",
                       help="a GEMM's order: row (C) or col (Fortran) (row)")
        p.add_argument("--gemm", choices=("naive", "shared", "regblock"), default="naive",
                       help="the GEMM kernel of the device trainer's run (naive)")
        p.add_argument("--no-speed", dest="speed", action="store_false",
                       help="neither measure nor compare speed")
        p.add_argument("--timeout", type=positive_float, default=300.0,
                       help="seconds per case of a GEMM's battery (300)")
