"""The library surface of the front door, for a user's own tests:

    assert_gemm(C, A, B, C0, *, alpha, beta)  one GEMM's result against the oracle
    assert_grad(grad, params, X, Y, *, reg)    one backprop's result
    assert_step(before, after, X, Y, *, lr, reg)  one SGD step's result
    check_gemm(func, ...) -> Report         an outside GEMM through the battery
    check_grad(func, ...), check_step(func, ...)  a backprop or a step through theirs

The assertions raise AssertionError whose text is the failing verdict's str() (which test
failed, where, by how much, and what that means) and return the verdicts when all pass. They
hide their own frames from pytest's tracebacks. Arrays may be numpy arrays or anything with
copy_to_host() (Numba) or get() (CuPy); the result's dtype is the precision judged unless
`precision` declares another (float32, tf32, bfloat16, ...). The scalars (alpha, beta, lr,
reg) are keyword-only: lr and reg name the same floats that the oracle takes in the other
order. Passing them by position still works for this release, with a DeprecationWarning.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..common.params import Params
from ..common.shapes import BLOCKS
from ..judge import bounds
from ..judge.diagnose import diagnose_gemm
from ..judge.diagnose_network import diagnose_network
from ..judge.roundoff import compare_gemm
from ..judge.verdict import Verdict
from . import gemm, network
from .arrays import Arrays
from .report import summary, terminal, write_report
from .runner import Outcome

__all__ = ["Report", "assert_gemm", "assert_grad", "assert_step", "check_gemm", "check_grad",
           "check_step"]


def _host(a) -> np.ndarray:
    return Arrays().to_host(a)


def _blocks(blocks, like: Params | None, names: tuple[str, ...], what: str) -> Params:
    p = network.as_params(blocks, names, what)
    return p if like is None else network.shaped(p, like, names)


def _fail_on(verdicts: Sequence[Verdict], msg: str = "") -> None:
    __tracebackhide__ = True
    failed = [v for v in verdicts if not v.passed]
    if failed:
        worst = max(failed, key=lambda v: v.ratio)
        others = "" if len(failed) == 1 else f"\n({len(failed) - 1} more blocks fail)"
        raise AssertionError((f"{msg}\n" if msg else "") + str(worst) + others)


def _keyword_only(*names: str):
    """Let the scalars `names`, now keyword-only, still come by position after the arrays
    (the spelling before 0.2), with a DeprecationWarning that says how to pass them."""
    def wrap(func):
        arrays = func.__code__.co_argcount

        @functools.wraps(func)
        def called(*args, **kwargs):
            __tracebackhide__ = True
            extra = args[arrays:]
            if len(extra) > len(names):
                raise TypeError(f"{func.__name__}() takes {arrays} positional arguments and "
                                f"{', '.join(names)} by keyword; {len(args)} were given")
            if extra:
                given = dict(zip(names, extra, strict=False))
                twice = sorted(set(given) & set(kwargs))
                if twice:
                    raise TypeError(f"{func.__name__}() got {', '.join(twice)} twice")
                warnings.warn(f"{func.__name__}: pass "
                              f"{', '.join(f'{k}={v!r}' for k, v in given.items())} by "
                              "keyword; by position they will be refused in the next release",
                              DeprecationWarning, stacklevel=2)
                kwargs |= given
            return func(*args[:arrays], **kwargs)
        return called
    return wrap


@_keyword_only("alpha", "beta")
def assert_gemm(C, A, B, C0=None, *, alpha: float = 1.0, beta: float = 0.0,
                precision: str | None = None, msg: str = "") -> Verdict:
    """C (M x N) must be alpha A B + beta C0 within roundoff, A M x K and B K x N, in C's
    dtype (or the declared precision). C0 may be None when beta is 0. A failure says which
    test failed, where, the most likely cause and the effective precision, after msg."""
    __tracebackhide__ = True
    C, A, B = _host(C), _host(A), _host(B)
    if C0 is None:
        if beta != 0:
            raise ValueError(f"assert_gemm: beta is {beta:g}, so C0 (C before the call) "
                             "is needed")
        C0 = np.zeros_like(C)
    C0 = _host(C0)
    if A.ndim != 2 or B.ndim != 2 or A.shape[1] != B.shape[0]:
        raise ValueError(f"assert_gemm: A is {A.shape} and B is {B.shape}: they do not chain")
    for name, m in (("C", C), ("C0", C0)):
        if m.shape != (A.shape[0], B.shape[1]):
            raise ValueError(f"assert_gemm: {name} is {m.shape}, A B is "
                             f"{(A.shape[0], B.shape[1])}")
    verdict = compare_gemm(C, A, B, C0, alpha, beta, precision=precision)
    verdict = diagnose_gemm(verdict, C, A, B, C0, alpha, beta, precision=precision)
    _fail_on([verdict], msg)
    return verdict


@_keyword_only("reg")
def assert_grad(grad, params, X, Y, *, reg: float = 0.0, msg: str = "") -> dict[str, Verdict]:
    """grad = (dW1, db1, dW2, db2) in its dtype must be the oracle's gradient of the loss at
    params (W1 H x 784, b1 H x 1, W2 10 x H, b2 10 x 1) on X (784 x N), Y (10 x N one-hot)
    within the whole-step bounds (judge/bounds.py)."""
    __tracebackhide__ = True
    p = _blocks(params, None, BLOCKS, "params").astype(np.float64)
    g = _blocks(grad, p, network.GRAD_NAMES, "grad")
    X, Y = _host(X).astype(np.float64), _host(Y).astype(np.float64)
    verdicts = diagnose_network(bounds.compare_gradient(g, p, X, Y, reg), g, p, X, Y, reg)
    _fail_on(list(verdicts.values()), msg)
    return verdicts


@_keyword_only("lr", "reg")
def assert_step(before, after, X, Y, *, lr: float, reg: float = 0.0, msg: str = ""
                ) -> dict[str, Verdict]:
    """after = (W1, b1, W2, b2), in its dtype, must be one SGD step of the oracle's from
    before on X (784 x N) and Y (10 x N one-hot) with learning rate lr and L2 weight reg."""
    __tracebackhide__ = True
    p = _blocks(before, None, BLOCKS, "before").astype(np.float64)
    updated = _blocks(after, p, BLOCKS, "after")
    X, Y = _host(X).astype(np.float64), _host(Y).astype(np.float64)
    verdicts = diagnose_network(bounds.compare_step(updated, p, X, Y, reg, lr), updated, p, X,
                                Y, reg, lr)
    _fail_on(list(verdicts.values()), msg)
    return verdicts


@dataclass(frozen=True)
class Report:
    """A battery's outcomes: passed, str() the table, write(DIR) report.md, .json and heat
    maps."""

    title: str
    outcomes: list[Outcome]

    @property
    def passed(self) -> bool:
        return all(o.passed for o in self.outcomes)

    @property
    def failed(self) -> list[Outcome]:
        return [o for o in self.outcomes if not o.passed]

    def summary(self) -> str:
        return summary(self.outcomes)

    def __str__(self) -> str:
        return terminal(self.outcomes)

    def write(self, directory: Path | str) -> Path:
        write_report(self.outcomes, Path(directory), self.title, self.title)
        return Path(directory) / "report.md"


def check_gemm(func: Callable | str, *, convention: str | None = None,
               arrays: str = "numpy", layout: str | None = None, dtype: str = "float64",
               precision: str | None = None, sizes: str = "quick",
               timeout: float | None = 300.0, keep_going: bool = False,
               abi: str | None = None) -> Report:
    """func through the GEMM battery (check/gemm.py), each case in a child process with
    `timeout` seconds (None: in this process); after a case that hangs the rest are skipped
    unless keep_going. convention: inplace by default; layout: row by default. abi: func is
    "path/libmine.so:SYMBOL", called through that C ABI (check/native.py: "course", whose
    layout is col, or "cblas")."""
    target = gemm.target(func, convention, arrays, layout, dtype, precision, flag="func",
                         timeout=timeout, abi=abi)
    return Report(f"check_gemm({_name(func)})",
                  gemm.battery(target, sizes).check(timeout, keep_going=keep_going))


def check_grad(func: Callable | str, *, dtype: str = "float64", sizes: str = "quick",
               reg: float = network.REG, timeout: float | None = 300.0,
               keep_going: bool = False) -> Report:
    """func(W1, b1, W2, b2, X, Y, reg) -> (dW1, db1, dW2, db2) through the backprop battery,
    called with this L2 weight reg (default 0.01)."""
    target = network.target(func, "grad", dtype, flag="func", reg=reg, timeout=timeout)
    return Report(f"check_grad({_name(func)})",
                  network.battery(target, sizes).check(timeout, keep_going=keep_going))


def check_step(func: Callable | str, *, dtype: str = "float64", sizes: str = "quick",
               lr: float = network.LR, reg: float = network.REG,
               timeout: float | None = 300.0, keep_going: bool = False) -> Report:
    """func(W1, b1, W2, b2, X, Y, lr, reg) -> (W1, b1, W2, b2) through the step battery,
    called with this learning rate (default 0.5) and L2 weight (default 0.01)."""
    target = network.target(func, "step", dtype, flag="func", reg=reg, lr=lr,
                            timeout=timeout)
    return Report(f"check_step({_name(func)})",
                  network.battery(target, sizes).check(timeout, keep_going=keep_going))


def _name(func) -> str:
    return func if isinstance(func, str) else getattr(func, "__qualname__", repr(func))
