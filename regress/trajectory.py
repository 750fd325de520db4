"""A training run reduced to what a regression check compares, at a few checkpoint steps, and
the oracle's roundoff ensemble for it.

At each checkpoint k the parameters p_k are compared with an anchor a_k, the float32
rounding of the baseline run's own p_k (stored in the baseline): for each block, two linear
functionals of d = p_k - a_k, its sum and its sum with fixed signs. Honest runs differ by a
few units in the last place of each element, far below the resolution of a sum of the
parameters themselves; d is small (float32's rounding of p), so p - a is exact and its sums
resolve differences of 1e-16 (the float64 pairwise sums err by about 1e-5 of the spread).

An ensemble member is the oracle's equations run from the same start in one of several
honest ways, chosen by the member's seed: the sigmoid as 1 / (1 + exp(-z)), through tanh, or
through logaddexp; the softmax normalised directly or through its logarithm; the gradient
summed over 1 to 4 parts of the batch (as data parallelism sums it). Honest implementations
differ this way, and their roundoff is not always mean-zero (a formula can round one way more
often than the other), so the ensemble must hold such differences, not only random noise.
On top, the start and the parameters after every step are multiplied by (1 + c u r), r
uniform in [-1, 1], u the unit roundoff of the run's dtype and c [regress] member_roundings,
each element independently: the few roundings by which an honest step in that precision
differs from another. The spread at a checkpoint is how
far roundoff alone moves each quantity there.

The parameters after each of the first FIRST_STEPS steps are kept whole as well: before
chaos amplifies anything, the distance of a run from them in roundings (normwise per block)
says from which step on it stopped being bit for bit the baseline, and by how much, with the
ensemble's distances at the same steps beside it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..common.data import Dataset
from ..common.params import Params, read_params
from ..common.shapes import BLOCKS
from ..judge.roundoff import unit_roundoff
from ..judge.tolerances import tolerance
from ..reference import network

QUANTITIES = tuple(f"{b} {what}" for b in BLOCKS for what in ("sum", "signed sum"))
CHECKPOINTS = 6
FIRST_STEPS = 4  # the parameters after each of the first steps are kept whole


def _signs(shape: tuple[int, ...]) -> np.ndarray:
    """Fixed pseudo-random signs, the same for every run of a shape."""
    return np.random.default_rng([len(shape), *shape]).choice([-1.0, 1.0], size=shape)


def summary(p: Params, anchor: Params) -> list[float]:
    """For each block, two linear functionals of d = p - anchor (float64): its sum, and its
    sum with fixed pseudo-random signs. Linear, so that roundoff's symmetric perturbations
    leave their mean where the unperturbed run is (a norm would be biased upward)."""
    out = []
    for block, a in p.zip(anchor):
        d = np.asarray(block, np.float64) - np.asarray(a, np.float64)
        out += [float(d.sum()), float((d * _signs(d.shape)).sum())]
    return out


def checkpoints(steps: int, count: int = CHECKPOINTS) -> list[int]:
    """`count` steps spread over 1..steps, the last one included."""
    return sorted({max(1, round(steps * (i + 1) / count)) for i in range(count)})


@dataclass(frozen=True)
class Run:
    """What a trajectory is computed from: the settings, the training set in the order used,
    and the parameters after each step (0: the start), as check/run.py reads a dump."""

    train: Dataset
    batch: int
    lr: float
    reg: float
    dtype: np.dtype
    params: list[Params]

    @property
    def steps(self) -> int:
        return len(self.params) - 1

    def batch_of(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(X, Y) of step k = 1, 2, ...: batches in order, the last one partial, epochs on."""
        n = len(self.train)
        start = (k - 1) % -(-n // self.batch) * self.batch
        return self.train.batch(start, min(start + self.batch, n))


def read(run_dir) -> Run:
    """A dump directory (common/dump.py's format, any trainer's) as a Run."""
    from ..check.run import read_run

    found = read_run(run_dir)
    s = found.settings
    return Run(found.train, int(s["batch"]), float(s["lr"]), float(s["reg"]), found.dtype,
               [read_params(path) for path in found.steps])


def first_steps(run: Run) -> list[Params]:
    """The run's parameters after steps 1, 2, ... FIRST_STEPS (or fewer), in its dtype."""
    return run.params[1:FIRST_STEPS + 1]


def roundings(p: Params, base: Params, u: float) -> float:
    """How far p lies from base in roundings of u: the largest over the blocks of
    max|p - base| / (u max|base|), normwise so that entries near zero do not dominate."""
    worst = 0.0
    for block, b in p.zip(base):
        b = np.asarray(b, np.float64)
        d = float(np.abs(np.asarray(block, np.float64) - b).max())
        scale = u * float(np.abs(b).max())
        worst = max(worst, d / scale if scale > 0 else (0.0 if d == 0 else np.inf))
    return worst


def distances(run: Run, first: list[Params], u: float) -> list[float]:
    """The run's roundings from `first`, the baseline's parameters after steps 1, 2, ..."""
    if run.steps < len(first):
        raise ValueError(f"the run has {run.steps} steps; the baseline keeps the first "
                         f"{len(first)}")
    return [roundings(p, q, u) for p, q in zip(run.params[1:], first, strict=False)]


def anchors(run: Run, steps: list[int]) -> list[Params]:
    """The float32 rounding of the run's parameters at each checkpoint."""
    return [run.params[k].astype(np.float32) for k in steps]


def trajectory(run: Run, steps: list[int], anchor: list[Params]) -> np.ndarray:
    """len(steps) x len(QUANTITIES), float64."""
    if run.steps < steps[-1]:
        raise ValueError(f"the run has {run.steps} steps; the baseline checks up to step "
                         f"{steps[-1]}")
    return np.array([summary(run.params[k], a) for k, a in zip(steps, anchor, strict=True)])


def losses(run: Run) -> np.ndarray:
    """J before each step, the oracle's, from the run's own parameters (K)."""
    return np.array([network.loss(run.params[k - 1].astype(np.float64), *run.batch_of(k),
                                  run.reg) for k in range(1, run.steps + 1)])


def _perturbed(p: Params, u: float, rng: np.random.Generator) -> Params:
    return p.map(lambda b: b * (1 + u * rng.uniform(-1, 1, b.shape)))


SIGMOIDS = {
    "exp": lambda z: 1 / (1 + np.exp(-z)),
    "tanh": lambda z: 0.5 * (1 + np.tanh(0.5 * z)),
    "logaddexp": lambda z: np.exp(-np.logaddexp(0, -z)),
}


@dataclass(frozen=True)
class Variant:
    """One honest way to compute the step (the member's seed picks it)."""

    sigmoid: str
    log_softmax: bool
    parts: int

    @classmethod
    def draw(cls, rng: np.random.Generator) -> Variant:
        return cls(str(rng.choice(list(SIGMOIDS))), bool(rng.integers(2)),
                   int(rng.integers(1, 5)))

    def step(self, p: Params, X: np.ndarray, Y: np.ndarray, reg: float, lr: float) -> None:
        """p -= lr * grad J, in place, in float64, this variant's way."""
        sigmoid = SIGMOIDS[self.sigmoid]
        N = X.shape[1]
        grad = Params(reg * p.W1, np.zeros_like(p.b1), reg * p.W2, np.zeros_like(p.b2))
        for cols in np.array_split(np.arange(N), self.parts):
            x, y = X[:, cols], Y[:, cols]
            with np.errstate(over="ignore"):
                a1 = sigmoid(p.W1 @ x + p.b1)
            z2 = p.W2 @ a1 + p.b2
            shifted = z2 - z2.max(axis=0)
            if self.log_softmax:
                yhat = np.exp(shifted - np.log(np.exp(shifted).sum(axis=0)))
            else:
                e = np.exp(shifted)
                yhat = e / e.sum(axis=0)
            dz2 = (yhat - y) / N
            dz1 = (p.W2.T @ dz2) * a1 * (1 - a1)
            for g, part in grad.zip(Params(dz1 @ x.T, dz1.sum(axis=1, keepdims=True),
                                           dz2 @ a1.T, dz2.sum(axis=1, keepdims=True))):
                g += part
        for block, g in p.zip(grad):
            block -= lr * g


@dataclass(frozen=True)
class Member:
    """One ensemble member: its quantities at the checkpoints (checkpoints x Q), how far it
    lies from the baseline's parameters after each of the first steps (roundings), and its
    final parameters."""

    quantities: np.ndarray
    first: list[float]
    final: Params


def member(run: Run, seed: int, steps: list[int], anchor: list[Params],
           first: list[Params] = ()) -> Member:
    """One member, run from the start of `run` to its last checkpoint; `first` are the
    baseline's parameters after steps 1, 2, ... to measure it against."""
    rng = np.random.default_rng([seed, 20261125])
    u = unit_roundoff(run.dtype)
    scale = tolerance("regress.member_roundings") * u
    variant = Variant.draw(rng)
    p = _perturbed(run.params[0].astype(np.float64), scale, rng)
    rows, near, at = [], [], dict(zip(steps, anchor, strict=True))
    for k in range(1, max(steps[-1], len(first)) + 1):
        variant.step(p, *run.batch_of(k), run.reg, run.lr)
        p = _perturbed(p, scale, rng)
        if k in at:
            rows.append(summary(p, at[k]))
        if k <= len(first):
            near.append(roundings(p, first[k - 1], u))
    return Member(np.array(rows), near, p)


def batches(train: Dataset, batch: int, steps: int, dtype) -> list[tuple[np.ndarray, ...]]:
    """The (X, Y) of steps 1..steps as a step takes them: contiguous, in dtype."""
    shell = Run(train, batch, 0.0, 0.0, np.dtype(dtype), [])
    return [tuple(np.ascontiguousarray(a, dtype) for a in shell.batch_of(k))
            for k in range(1, steps + 1)]


def drive(step, start: Params, train: Dataset, batch: int, lr: float, reg: float, steps: int,
          dtype, inputs: list[tuple[np.ndarray, ...]] | None = None) -> Run:
    """A Run made by calling step(W1, b1, W2, b2, X, Y, lr, reg) -> (W1, b1, W2, b2) (an
    outside training step, as `check step` takes it) `steps` times on arrays of dtype; on
    `inputs`, batches(train, batch, steps, dtype) made beforehand, when given (a speed
    sample times the step, not the making of its batches)."""
    from ..check.network import as_params, shaped

    t = np.dtype(dtype).type
    p = start.astype(dtype)
    shell = Run(train, batch, lr, reg, np.dtype(dtype), [p])
    for X, Y in batches(train, batch, steps, dtype) if inputs is None else inputs:
        out = step(*p.blocks().values(), X, Y, t(lr), t(reg))
        p = shaped(as_params(out, BLOCKS, "the step's result"), p, BLOCKS).astype(dtype)
        shell.params.append(p)
    return shell


@dataclass(frozen=True)
class Ensemble:
    """members x checkpoints x Q quantities, members x first steps roundings, and each
    member's final parameters."""

    quantities: np.ndarray
    first: np.ndarray
    finals: list[Params]


def ensemble(run: Run, members: int, steps: list[int], anchor: list[Params],
             first: list[Params] = ()) -> Ensemble:
    found = [member(run, m, steps, anchor, first) for m in range(members)]
    return Ensemble(np.stack([m.quantities for m in found]),
                    np.array([m.first for m in found], np.float64).reshape(members, len(first)),
                    [m.final for m in found])


def predictions(p: Params, val: Dataset) -> np.ndarray:
    """The oracle's predicted class of each validation image from parameters p, int8 (N,)."""
    return network.predict(p.astype(np.float64), val.X).astype(np.int8)


def val_accuracy(p: Params, val: Dataset) -> float:
    return float(np.mean(predictions(p, val) == val.labels))
