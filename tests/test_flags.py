"""Every flag of the front door is honoured or refused, never ignored: for each source of each
`oraclenet check` command (gemm from --impl and from --files, grad, step from --impl and from
files, run), every flag either changes what is run (the exit code or the output, timings
aside, differs from the same command without it) or is refused with one line and exit 2.
The flags come from the parser itself: a flag added without a line here fails the test."""

import argparse
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from oraclenet.cli import build_parser
from oraclenet.common.params import init_params, save_params
from oraclenet.reference import network

ORACLENET = Path(sys.executable).parent / "oraclenet"
NO_SIMULATOR = {k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"}

# The implementations: correct, each slow on its first (smallest) case only, so that
# --timeout has a case to end and --keep-going cases to go on to.
MINE = textwrap.dedent('''
    import time
    import numpy as np

    def gemm(C, A, B, alpha, beta):  # row-major only, as much C code is
        if not A.flags.c_contiguous:
            raise ValueError("row-major arrays expected")
        if A.size == 1:
            time.sleep(0.8)
        C[...] = alpha * (A @ B) if beta == 0 else alpha * (A @ B) + beta * C

    def _gradient(W1, b1, W2, b2, X, Y, reg):
        N = X.shape[1]
        a1 = 1 / (1 + np.exp(-(W1 @ X + b1)))
        z2 = W2 @ a1 + b2
        yhat = np.exp(z2 - z2.max(axis=0))
        yhat /= yhat.sum(axis=0)
        dz2 = (yhat - Y) / N
        dz1 = (W2.T @ dz2) * a1 * (1 - a1)
        return (dz1 @ X.T + reg * W1, dz1.sum(axis=1, keepdims=True), dz2 @ a1.T + reg * W2,
                dz2.sum(axis=1, keepdims=True))

    def backprop(W1, b1, W2, b2, X, Y, reg):
        if W1.shape[0] == 1:
            time.sleep(0.8)
        return _gradient(W1, b1, W2, b2, X, Y, reg)

    def step(W1, b1, W2, b2, X, Y, lr, reg):
        grad = backprop(W1, b1, W2, b2, X, Y, reg)
        return tuple(p - lr * g for p, g in zip((W1, b1, W2, b2), grad))
''')


def refused(*argv: str) -> tuple[str, tuple[str, ...]]:
    return "refused", argv


def honoured(*argv: str, base: tuple[str, ...] = ()) -> tuple[str, tuple[str, ...],
                                                              tuple[str, ...]]:
    """argv changes what `base` (added to the source's own arguments) runs."""
    return "honoured", argv, base


SLOW = ("--timeout", "0.3")  # the first case (sleeping 0.8 s) times out

# What `check grad --impl` and `check step --impl` share.
NETWORK_IMPL = {
    "--dtype": honoured("--dtype", "float32"),
    "--sizes": honoured("--sizes", "medium"),
    "--timeout": honoured(*SLOW),
    "--keep-going": honoured("--keep-going", base=SLOW),
    "--report": honoured("--report", "{out}"),
    "--reg": honoured("--reg", "0"),
}

SOURCES = {
    ("gemm", "--impl"): (("--impl", "{mine}:gemm"), {
        "--files": refused("--files", "A", "B", "C0", "C"),
        "--convention": honoured("--convention", "product"),
        "--abi": refused("--abi", "course"),
        "--arrays": honoured("--arrays", "numba"),
        "--layout": honoured("--layout", "col"),
        "--dtype": honoured("--dtype", "float32"),
        "--precision": honoured("--precision", "tf32"),
        "--sizes": honoured("--sizes", "medium"),
        "--timeout": honoured(*SLOW),
        "--keep-going": honoured("--keep-going", base=SLOW),
        "--alpha": refused("--alpha", "2"), "--beta": refused("--beta", "5"),
        "--transa": refused("--transa"), "--transb": refused("--transb"),
        "--raw": refused("--raw", "float64"), "--shape": refused("--shape", "3,4,5"),
        "--order": refused("--order", "F"),
        "--report": honoured("--report", "{out}"),
    }),
    ("gemm", "--files"): (("--files", "{A}", "{B}", "{C0}", "{C}"), {
        "--impl": refused("--impl", "{mine}:gemm"),
        "--convention": refused("--convention", "product"),
        "--abi": refused("--abi", "course"),
        "--arrays": refused("--arrays", "numba"),
        "--layout": refused("--layout", "col"),
        "--dtype": honoured("--dtype", "float32"),
        "--precision": honoured("--precision", "tf32"),
        "--sizes": refused("--sizes", "medium"),
        "--timeout": refused("--timeout", "1"),
        "--keep-going": refused("--keep-going"),
        "--alpha": honoured("--alpha", "2"), "--beta": honoured("--beta", "5"),
        "--transa": honoured("--transa"), "--transb": honoured("--transb"),
        "--raw": honoured("--raw", "float64", "--shape", "3,4,5"),
        "--shape": refused("--shape", "3,4,5"), "--order": refused("--order", "F"),
        "--report": honoured("--report", "{out}"),
    }),
    ("grad", "--impl"): (("--impl", "{mine}:backprop"), NETWORK_IMPL),
    ("step", "--impl"): (("--impl", "{mine}:step"), {
        **NETWORK_IMPL,
        "--lr": honoured("--lr", "0.1"),
        "--before": refused("--before", "{before}"),
        "--after": refused("--after", "{after}"),
        "--batch": refused("--batch", "{batch}"),
    }),
    ("step", "--after"): (("--before", "{before}", "--after", "{after}", "--batch", "{batch}",
                           "--lr", "0.5"), {
        "--impl": refused("--impl", "{mine}:step"),
        "--dtype": honoured("--dtype", "float32"),
        "--sizes": refused("--sizes", "medium"),
        "--timeout": refused("--timeout", "1"),
        "--keep-going": refused("--keep-going"),
        "--report": honoured("--report", "{out}"),
        "--reg": honoured("--reg", "0.01"),
        "--lr": honoured("--lr", "0.1", base=()),
        "--before": honoured("--before", "{after}"),
        "--batch": honoured("--batch", "{other_batch}"),
    }),
    ("run", "dir"): (("{run}",), {
        "--verbose": honoured("--verbose"),
        "--report": honoured("--report", "{out}"),
    }),
}


def flags(command: str) -> set[str]:
    """The option strings of `oraclenet check COMMAND`, from the parser."""
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    check = next(a for a in sub.choices["check"]._actions
                 if isinstance(a, argparse._SubParsersAction))
    return {option for action in check.choices[command]._actions
            for option in action.option_strings if option.startswith("--")} - {"--help"}


@pytest.mark.parametrize("command, source", list(SOURCES))
def test_every_flag_of_every_source_has_its_line(command, source):
    base, table = SOURCES[command, source]
    given = {a for a in base if a.startswith("--")}
    assert set(table) | given == flags(command), \
        f"flags of check {command} without a line: {flags(command) - set(table) - given}"


@pytest.fixture(scope="module")
def places(tmp_path_factory) -> dict[str, str]:
    where = tmp_path_factory.mktemp("flags")
    (where / "mine.py").write_text(MINE)
    rng = np.random.default_rng(5)
    A, B = rng.standard_normal((3, 5)), rng.standard_normal((5, 4))
    for name, x in (("A", A), ("B", B), ("C0", np.zeros((3, 4))), ("C", A @ B)):
        np.save(where / f"{name}.npy", x)
    p = init_params(6, 0)
    X = rng.random((784, 20))
    Y = np.eye(10)[:, rng.integers(0, 10, 20)]
    save_params(p, where / "before.npz")
    after = p.copy()
    network.step(after, X, Y, 0.0, 0.5)
    save_params(after, where / "after.npz")
    np.savez(where / "batch.npz", X=X, Y=Y)
    np.savez(where / "other_batch.npz", X=X[:, ::-1], Y=Y[:, ::-1] * 0 + np.eye(10)[:, :1])
    run = where / "run"
    done = subprocess.run([ORACLENET, "train", "-n", "8", "-b", "500", "-e", "1", "--quiet",
                           "--dump-dir", run], capture_output=True, timeout=600)
    assert done.returncode == 0, done.stderr
    return {"mine": str(where / "mine.py"), "before": str(where / "before.npz"),
            "after": str(where / "after.npz"), "batch": str(where / "batch.npz"),
            "other_batch": str(where / "other_batch.npz"), "run": str(run),
            **{m: str(where / f"{m}.npy") for m in ("A", "B", "C0", "C")}}


RUNS: dict[tuple, tuple] = {}  # the runs without a flag, shared by the flags compared to them


def run(command: str, argv, places, out: Path):
    key = (command, *argv)
    if "{out}" not in argv and key in RUNS:
        return RUNS[key]
    RUNS[key] = _run(command, argv, places, out)
    return RUNS[key]


def _run(command: str, argv, places, out: Path):
    filled = [a.format(**places, out=out) for a in argv]
    done = subprocess.run([ORACLENET, "check", command, *filled], capture_output=True,
                          text=True, timeout=600, env=NO_SIMULATOR)
    seen = re.sub(r"\(\d+\.\d+ s\)|in \d+(\.\d+)? s\b", "", done.stdout)  # timings aside
    return done.returncode, seen, done.stderr


@pytest.mark.parametrize("command, source, flag",
                         [(c, s, f) for (c, s), (_, table) in SOURCES.items() for f in table])
def test_a_flag_changes_what_is_run_or_is_refused_in_one_line(places, tmp_path, command,
                                                               source, flag):
    base, table = SOURCES[command, source]
    kind, argv, *extra = table[flag]
    if kind == "refused":
        code, _, err = run(command, (*base, *argv), places, tmp_path / "report")
        assert code == 2 and len(err.strip().splitlines()) == 1, err
        return
    without = run(command, (*base, *extra[0]), places, tmp_path / "without")
    with_flag = run(command, (*base, *extra[0], *argv), places, tmp_path / "with")
    assert with_flag[:2] != without[:2], f"{flag} changed nothing:\n{with_flag[1]}"
