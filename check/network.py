"""`oraclenet check grad` and `check step`: an outside backprop or SGD step against the oracle.

    grad   f(W1, b1, W2, b2, X, Y, reg) -> (dW1, db1, dW2, db2)
    step   f(W1, b1, W2, b2, X, Y, lr, reg) -> (W1, b1, W2, b2), the parameters after one step

(SPEC section 1's shapes: W1 H x 784, b1 H x 1, W2 10 x H, b2 10 x 1, X 784 x N, Y 10 x N
one-hot, in the dtype asked for.) At check time each case draws a seeded problem (real
images, biases away from zero), calls the implementation, and judges every block with the
whole-step bounds of judge/bounds.py: both tiers and the effective bits. A gradient is also
checked by central differences with the V-curve, block by block (judge/gradcheck.py), on
float64 inputs, which judges its derivative apart from its precision. A step can also come
from files: the parameters before and after, and the batch.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..common.data import one_hot
from ..common.matrices import dump_rounding, read_matrix
from ..common.params import Params, describe, param_files, read_params
from ..common.shapes import BLOCKS, N_CLASSES, N_PIXELS, transposed_note
from ..judge import bounds, gradcheck
from ..judge.diagnose_network import diagnose_network
from ..judge.roundoff import compare_unchanged
from ..judge.tolerances import tolerance
from ..judge.verdict import CannotJudge, Verdict
from .runner import BadResult, Battery, Outcome, judged
from .target import Implementation, implementation

# The defaults of --reg and --lr: lambda large enough that a wrong L2 term shows; a typical
# step size.
REG, LR = 1e-2, 0.5
SIZES = {"quick": [(1, 1), (7, 5), (16, 40)],
         "medium": [(1, 1), (7, 5), (16, 40), (64, 100)],
         "course": [(1, 1), (7, 5), (16, 40), (64, 100), (100, 256)],
         "full": [(1, 1), (2, 3), (7, 5), (16, 40), (33, 17), (64, 100), (100, 256),
                  (257, 129)]}
FD_PROBLEM = (8, 16)  # hidden, batch of the central-difference check (every entry checked)


@dataclass(frozen=True)
class NetCase:
    """One problem: H hidden units, N images, seeded."""

    kind: str  # "bounds" or "central differences"
    hidden: int
    batch: int
    seed: int = 0

    @property
    def name(self) -> str:
        return f"{self.kind}, seed {self.seed}"

    @property
    def shape(self) -> str:
        return f"H {self.hidden}, N {self.batch}"


def cases(sizes: str, what: str) -> list[NetCase]:
    if sizes not in SIZES:
        raise ValueError(f"--sizes must be one of {', '.join(SIZES)}, got {sizes!r}")
    cases = [NetCase("bounds", H, N, seed) for seed, (H, N) in enumerate(SIZES[sizes])]
    if what == "grad":
        cases.append(NetCase("central differences", *FD_PROBLEM))
    return cases


def problem(case: NetCase, dtype) -> tuple[Params, np.ndarray, np.ndarray]:
    """Seeded parameters and a batch of real images, every value representable in dtype
    (float64 arrays), so that the implementation and the oracle see the same numbers."""
    p, X, Y = gradcheck.check_problem(case.hidden, case.batch, case.seed)
    rounded = [np.asarray(a, dtype).astype(np.float64) for a in (*p.blocks().values(), X)]
    return Params(*rounded[:4]), rounded[4], Y


def as_params(result, names: tuple[str, ...], what: str) -> Params:
    """An implementation's 4 arrays (a sequence in SPEC order, a mapping by name, or
    Params; numpy, Numba or CuPy) as host Params."""
    from .arrays import Arrays

    if isinstance(result, Params):
        return result
    if isinstance(result, Mapping):
        missing = [n for n in names if n not in result]
        if missing:
            raise BadResult(f"{what} has no {', '.join(missing)} (expected "
                            f"{', '.join(names)})")
        result = [result[n] for n in names]
    try:
        parts = list(result)
    except TypeError:
        raise BadResult(f"{what} is a {type(result).__name__}, not ({', '.join(names)})"
                        ) from None
    if len(parts) != 4:
        raise BadResult(f"{what} has {len(parts)} arrays, not 4 ({', '.join(names)})")
    host = Arrays()
    return Params(*(host.to_host(a) for a in parts))


def shaped(p: Params, like: Params, names: tuple[str, ...]) -> Params:
    """p with its biases reshaped like `like`'s (a row or a vector is accepted); a
    BadResult naming the block whose shape is wrong."""
    blocks = []
    for name, got, want in zip(names, p.blocks().values(), like.blocks().values(),
                               strict=True):
        if name.lstrip("d").startswith("b") and got.size == want.size:
            got = got.reshape(want.shape)
        if got.shape != want.shape:
            raise BadResult(f"{name} has shape {got.shape}, expected {want.shape}"
                            f"{transposed_note(got.shape, want.shape)}")
        blocks.append(got)
    return Params(*blocks)


GRAD_NAMES = tuple(f"d{b}" for b in BLOCKS)
INPUTS = (*BLOCKS, "X", "Y")
ARGUMENTS = {"grad": (*INPUTS, "reg"), "step": (*INPUTS, "lr", "reg")}
# What the implementation must only read: a step may update its parameters in place.
READ_ONLY = {"grad": INPUTS, "step": ("X", "Y")}


@dataclass(frozen=True)
class NetTarget:
    """The implementation, the dtype it computes in, and the lambda (and, for a step, the
    learning rate) it is called with."""

    impl: Implementation
    what: str  # grad or step
    dtype: np.dtype
    reg: float = REG
    lr: float = LR

    def call(self, p: Params, X: np.ndarray, Y: np.ndarray, dtype=None, reg=None
             ) -> tuple[Params, list[Verdict]]:
        """The implementation's result on its own copies of p, X, Y in dtype (default its
        own) with lambda reg (default its own), and a failing verdict for each argument it
        modified that it must only read."""
        t = np.dtype(dtype or self.dtype)
        given = [np.array(a, dtype=t, order="C", copy=True) for a in (*p.blocks().values(),
                                                                         X, Y)]
        kept = [a.copy() for a in given]
        reg = t.type(self.reg if reg is None else reg)
        scalars = (reg,) if self.what == "grad" else (t.type(self.lr), reg)
        result = self.impl.func(*given, *scalars)
        names = GRAD_NAMES if self.what == "grad" else BLOCKS
        out = shaped(as_params(result, names, "f's result"), p, names)
        modified = [compare_unchanged(name, after, before)
                    for name, after, before in zip(INPUTS, given, kept, strict=True)
                    if name in READ_ONLY[self.what] and not np.array_equal(
                        after, before, equal_nan=True)]
        return out, modified


def target(impl: str | Callable, what: str, dtype: str = "float64", flag: str = "--impl",
           reg: float = REG, lr: float = LR, timeout: float | None = 300.0) -> NetTarget:
    """A backprop (what = "grad") or a training step ("step"), a callable or MODULE:FUNCTION
    (imported in a child process within `timeout` seconds), checked against its call, with
    the lambda and learning rate it is given; a ValueError naming `flag` otherwise."""
    _check_rates(reg, lr)
    if what == "grad" and reg > tolerance("gradcheck.max_reg"):
        raise ValueError(f"reg {reg:g}: the central-difference case cannot resolve a data "
                         f"gradient beside an L2 term that large (at most "
                         f"{tolerance('gradcheck.max_reg'):g}; tolerances.toml [gradcheck])")
    return NetTarget(implementation(impl, ARGUMENTS[what], f"check {what}", flag, timeout),
                     what, np.dtype(dtype), reg, lr)


def _check_rates(reg: float, lr: float) -> None:
    if not (math.isfinite(reg) and reg >= 0):
        raise ValueError(f"reg (lambda) must be a finite number >= 0, got {reg!r}")
    if not (math.isfinite(lr) and lr > 0):
        raise ValueError(f"lr must be a finite number > 0, got {lr!r}")


def battery(target: NetTarget, sizes: str = "quick") -> Battery:
    run = run_grad_case if target.what == "grad" else run_step_case
    return Battery("backprop" if target.what == "grad" else "training step",
                   cases(sizes, target.what), functools.partial(run, target))


def run_grad_case(target: NetTarget, case: NetCase) -> Outcome:
    p, X, Y = problem(case, target.dtype if case.kind == "bounds" else np.float64)
    if case.kind == "central differences":
        return _central_differences(target, case, p, X, Y)
    grad, modified = target.call(p, X, Y)
    verdicts = bounds.compare_gradient(grad, p, X, Y, target.reg, target.dtype)
    verdicts = diagnose_network(verdicts, grad, p, X, Y, target.reg, dtype=target.dtype)
    return judged(case.name, case.shape, [*modified, *verdicts.values()])


def _central_differences(target: NetTarget, case: NetCase, p, X, Y) -> Outcome:
    modified = []

    def backward(q: Params, X_, Y_, reg: float) -> Params:
        out, changed = target.call(q, X_, Y_, np.float64, reg)
        modified.extend(changed)
        if out.W1.dtype != np.float64:
            raise ValueError(f"central differences call f on float64 arrays and it returned "
                             f"{out.W1.dtype}: this check needs a dtype-generic f")
        return out

    report = gradcheck.check(p, X, Y, target.reg, backward=backward)
    if modified:
        return judged(case.name, case.shape, modified[:1])
    failed = [f"d{b}" for b in BLOCKS if b in report.failed_blocks()]
    if report.whole is not None and not report.whole.passed:
        failed.append("the whole gradient")
    detail = ", ".join(f"d{s.block}: {s.best_error:.2g}" for s in report.sweeps)
    return Outcome(case.name, case.shape, "pass" if report.passed else "FAIL",
                   message=(f"blocks failing: {', '.join(failed)}; " if failed else "")
                   + f"best relative error along the V-curve {detail}")


def run_step_case(target: NetTarget, case: NetCase) -> Outcome:
    p, X, Y = problem(case, target.dtype)
    updated, modified = target.call(p, X, Y)
    verdicts = bounds.compare_step(updated, p, X, Y, target.reg, target.lr, target.dtype)
    verdicts = diagnose_network(verdicts, updated, p, X, Y, target.reg, target.lr,
                                target.dtype)
    return judged(case.name, case.shape, [*modified, *verdicts.values()])


# --- one step from files ----------------------------------------------------------------------

def read_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(X 784 x N, Y 10 x N one-hot) from an .npz or .mat holding X and Y or labels (N), or
    from a folder holding them one file each (X.mat, Y.mat or labels.txt: any format
    read_matrix reads, as a C++ program writes them)."""
    path = Path(path)
    found = _batch_files(path) if path.is_dir() else None

    def where(name: str) -> Path:
        return path if found is None else found[name]

    def read(name: str, **kw) -> np.ndarray:
        if found is None:
            return read_matrix(path, name=name, **kw)
        if name not in found:
            raise ValueError(f"{path}: no array named {name!r}")
        return read_matrix(found[name], **kw)

    X = read("X")
    if X.shape[0] != N_PIXELS:
        raise ValueError(f"{where('X')}: X is {X.shape[0]} x {X.shape[1]}, expected "
                         f"{N_PIXELS} x N")
    try:
        Y = read("Y")
    except ValueError as err:
        if "no array named 'Y'" not in str(err):
            raise
        labels = read("labels", vector=True).reshape(-1)
        if labels.size != X.shape[1] or not np.all((labels == np.round(labels))
                                                    & (labels >= 0) & (labels < N_CLASSES)):
            raise ValueError(f"{where('labels')}: labels must be {X.shape[1]} integers in "
                             "0..9") from None
        return X, one_hot(labels.astype(np.int64))
    if Y.shape != (N_CLASSES, X.shape[1]) or not np.all((Y == 0) | (Y == 1)) or not np.all(
            Y.sum(axis=0) == 1):
        raise ValueError(f"{where('Y')}: Y must be one-hot, {N_CLASSES} x {X.shape[1]}")
    return X, Y


def _batch_paths(path: Path) -> list[Path]:
    path = Path(path)
    return list(_batch_files(path).values()) if path.is_dir() else [path]


def _batch_files(folder: Path) -> dict[str, Path]:
    """A batch folder's X, Y and labels files by name (any suffix); one line for a name
    given twice or an X missing."""
    found: dict[str, Path] = {}
    for f in sorted(folder.iterdir()):
        if f.is_file() and f.stem in ("X", "Y", "labels"):
            if f.stem in found:
                raise ValueError(f"{folder}: two files for {f.stem}: {found[f.stem].name}, "
                                 f"{f.name}; keep one")
            found[f.stem] = f
    if "X" not in found:
        raise ValueError(f"{folder}: a batch folder holds X and Y (or labels), one file each "
                         "(X.mat, Y.mat, ...): no X")
    return found


@dataclass(frozen=True)
class StepFiles:
    """The parameters before and after (each as read_params takes them), the batch."""

    before: Path | list[Path]
    after: Path | list[Path]
    batch: Path
    lr: float
    reg: float
    dtype: str | None = None  # declared; default: the after file's own


def _names(source: Path | list[Path]) -> str:
    return Path(source).name if isinstance(source, str | Path) else " ".join(
        Path(p).name for p in source)


def judge_step_files(files: StepFiles) -> Outcome:
    p = read_params(files.before)
    updated = read_params(files.after)
    X, Y = read_batch(files.batch)
    if updated.hidden != p.hidden:
        raise ValueError(f"{describe(files.after)}: H = {updated.hidden}, but "
                         f"{describe(files.before)} has H = {p.hidden}")
    dtype = np.dtype(files.dtype or updated.W1.dtype)
    p64 = p.astype(np.float64)
    X64 = X.astype(dtype).astype(np.float64)
    verdicts = bounds.compare_step(updated, p64, X64, Y, files.reg, files.lr, dtype)
    verdicts = list(diagnose_network(verdicts, updated, p64, X64, Y, files.reg, files.lr,
                                     dtype).values())
    rounded = None if all(v.passed for v in verdicts) else dump_rounding(
        [*param_files(files.before), *param_files(files.after), *_batch_paths(files.batch)],
        dtype)
    if rounded is not None:
        raise CannotJudge(f"cannot judge the step: {rounded[1]}")
    return judged(f"{_names(files.after)} from {_names(files.before)}",
                  f"H {p.hidden}, N {X.shape[1]}", verdicts)
