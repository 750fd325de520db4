"""Finite-difference gradient checks of the oracle's backward pass, with reports a person can read.

For each block (W1, b1, W2, b2) and each loss term (total, data, L2):
    central differences  fd_i = (J(p + h e_i) - J(p - h e_i)) / 2h  against the analytic g_i,
    passing when |fd_i - g_i| <= rtol |g_i| + atol, atol = c u |J| / h (the roundoff of J
    magnified by 1/h; see tolerances.toml).
For each block, a step sweep along a seeded random direction v: E(h) = |fd_v(h) - g.v| / |g.v|
for h = 1e-1 .. 1e-12. The curve is a V: truncation O(h^2) on the right, roundoff O(u/h) on
the left. A correct derivative shows slope 2 on the right; a wrong one a floor at the size of
its error. The verdict uses the error at the best h and that slope.
Finally a random direction through all blocks at once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from ..common.data import MNIST5K, load, one_hot, rng_for
from ..common.files import Folder, save_figure, write_json, write_text
from ..common.params import Params, init_params
from ..reference import network
from .roundoff import unit_roundoff
from .tolerances import tolerance

TERMS = ("total", "data", "l2")
STEPS = tuple(10.0 ** -np.arange(1.0, 12.01, 0.5))
STREAM_GRADCHECK = 10
Backward = Callable[[Params, np.ndarray, np.ndarray, float], Params]


@dataclass
class EntryCheck:
    """Central differences against the analytic gradient, entry by entry, for one block/term."""

    block: str
    term: str
    shape: tuple[int, ...]
    checked: int
    total: int
    h: float
    max_abs: float
    max_rel: float
    worst_index: tuple[int, ...]
    fd: float
    analytic: float
    ratio: float  # max |fd - g| / (rtol |g| + atol)
    passed: bool


@dataclass
class Sweep:
    """E(h) along one random direction, with the fitted truncation-side slope."""

    block: str
    steps: list[float]
    errors: list[float]
    best_h: float
    best_error: float
    slope: float | None  # None: the error is at roundoff level for every h (J is quadratic)
    fit_steps: list[float]
    passed: bool


@dataclass
class Report:
    settings: dict
    entries: list[EntryCheck] = field(default_factory=list)
    sweeps: list[Sweep] = field(default_factory=list)
    whole: Sweep | None = None

    def failed_blocks(self) -> set[str]:
        bad = {e.block for e in self.entries if not e.passed}
        return bad | {s.block for s in self.sweeps if not s.passed}

    @property
    def passed(self) -> bool:
        return not self.failed_blocks() and (self.whole is None or self.whole.passed)

    def as_dict(self) -> dict:
        return dict(asdict(self), passed=self.passed, failed_blocks=sorted(self.failed_blocks()))


def _terms(p: Params, X, Y, reg) -> np.ndarray:
    data, l2 = network.loss_terms(p, X, Y, reg)
    return np.array([data + l2, data, l2])


def _term_gradients(backward: Backward, p: Params, X, Y, reg) -> dict[str, Params]:
    """Analytic gradients of (total, data, L2): the L2 one is backward(reg) - backward(0)."""
    total, data = backward(p, X, Y, reg), backward(p, X, Y, 0.0)
    l2 = total.map(lambda t, d: t - d, data)
    return {"total": total, "data": data, "l2": l2}


def _entries(shape: tuple[int, ...], max_entries: int, rng) -> np.ndarray:
    """Flat indices: all of them, or a seeded sample of max_entries."""
    size = int(np.prod(shape))
    if size <= max_entries:
        return np.arange(size)
    return np.sort(rng.choice(size, max_entries, replace=False))


def check_entries(p: Params, X, Y, reg: float, grads: dict[str, Params], h: float,
                  max_entries: int, seed: int) -> list[EntryCheck]:
    u = unit_roundoff(np.float64)
    rtol = tolerance("gradcheck.rtol")
    roundoff = tolerance("gradcheck.roundoff_factor")
    J = np.abs(_terms(p, X, Y, reg))
    results = []
    for b, (name, param) in enumerate(p.blocks().items()):
        flat = param.reshape(-1)
        idx = _entries(param.shape, max_entries, rng_for(seed, STREAM_GRADCHECK, b))
        fd = np.empty((len(idx), len(TERMS)))
        for row, i in enumerate(idx):
            saved = flat[i]
            flat[i] = saved + h
            plus = _terms(p, X, Y, reg)
            flat[i] = saved - h
            minus = _terms(p, X, Y, reg)
            flat[i] = saved
            fd[row] = (plus - minus) / (2 * h)
        for t, term in enumerate(TERMS):
            g = getattr(grads[term], name).reshape(-1)[idx]
            err = np.abs(fd[:, t] - g)
            allowed = rtol * np.abs(g) + roundoff * u * max(J[t], u) / h
            ratio = err / allowed
            worst = int(np.argmax(ratio))
            scale = np.maximum(np.maximum(np.abs(fd[:, t]), np.abs(g)), np.finfo(float).tiny)
            results.append(EntryCheck(
                block=name, term=term, shape=param.shape, checked=len(idx), total=param.size,
                h=h, max_abs=float(err.max()), max_rel=float((err / scale).max()),
                worst_index=tuple(int(k) for k in np.unravel_index(idx[worst], param.shape)),
                fd=float(fd[worst, t]), analytic=float(g[worst]), ratio=float(ratio[worst]),
                passed=bool(ratio[worst] <= 1.0)))
    return results


def sweep(name: str, p: Params, X, Y, reg: float, grad: Params, direction: Params) -> Sweep:
    """E(h) for the total loss along direction (a Params, zero outside the blocks it tests)."""
    slope_lo, slope_hi = tolerance("gradcheck.slope_min"), tolerance("gradcheck.slope_max")
    rtol = tolerance("gradcheck.rtol")
    exact = sum(float(np.vdot(g, v)) for g, v in grad.zip(direction))
    errors = []
    for h in STEPS:
        shifted = [p.copy(), p.copy()]
        for sign, q in zip((1.0, -1.0), shifted, strict=True):
            for param, v in q.zip(direction):
                param += sign * h * v
        fd = (network.loss(shifted[0], X, Y, reg) - network.loss(shifted[1], X, Y, reg)) / (2 * h)
        errors.append(abs(fd - exact) / max(abs(exact), np.finfo(float).tiny))
    errors_arr, steps = np.array(errors), np.array(STEPS)
    best = int(np.argmin(errors_arr))
    # Truncation side: steps above the best whose error stands clear of the roundoff floor.
    floor = tolerance("gradcheck.truncation_above_best") * errors_arr[best]
    fit = [i for i in range(best) if errors_arr[i] > floor]
    slope = None
    if len(fit) >= 2:
        slope = float(np.polyfit(np.log10(steps[fit]), np.log10(errors_arr[fit]), 1)[0])
    slope_ok = slope is None or slope_lo <= slope <= slope_hi
    if slope is None and errors_arr[:best + 1].max() > rtol:
        slope_ok = False  # large errors at every large step and no h^2 decay: not roundoff
    return Sweep(block=name, steps=list(STEPS), errors=errors, best_h=float(steps[best]),
                 best_error=float(errors_arr[best]), slope=slope,
                 fit_steps=[float(steps[i]) for i in fit],
                 passed=bool(errors_arr[best] <= rtol and slope_ok))


def _direction(p: Params, blocks: tuple[str, ...], seed: int, key: int) -> Params:
    """A seeded random unit vector that is zero outside the named blocks."""
    rng = rng_for(seed, STREAM_GRADCHECK, 100 + key)
    v = Params(*(rng.standard_normal(a.shape) if n in blocks else np.zeros_like(a)
                 for n, a in p.blocks().items()))
    norm = np.sqrt(sum(float(np.vdot(a, a)) for a in v.blocks().values()))
    return v.map(lambda a: a / norm)


def check(p: Params, X: np.ndarray, Y: np.ndarray, reg: float, *,
          backward: Backward | None = None, h: float | None = None,
          max_entries: int = 20000, seed: int = 0) -> Report:
    """Every check of the module on one batch (X: 784 x N, Y: 10 x N one-hot), of backward
    (default: the oracle's network.backward)."""
    backward = network.backward if backward is None else backward
    h = tolerance("gradcheck.step") if h is None else h
    grads = _term_gradients(backward, p, X, Y, reg)
    report = Report(settings=dict(hidden=p.hidden, batch=X.shape[1], reg=reg, h=h,
                                  max_entries=max_entries, seed=seed))
    report.entries = check_entries(p, X, Y, reg, grads, h, max_entries, seed)
    names = tuple(p.blocks())
    for k, name in enumerate(names):
        report.sweeps.append(sweep(name, p, X, Y, reg, grads["total"],
                                   _direction(p, (name,), seed, k)))
    report.whole = sweep("all", p, X, Y, reg, grads["total"],
                         _direction(p, names, seed, len(names)))
    return report


def check_problem(hidden: int, batch: int, seed: int, data: str = MNIST5K):
    """The parameters and batch a gradient check runs on: trained-like biases, real images."""
    split = load(data, "unit", 0.1, seed)
    if batch > len(split.train):
        raise ValueError(f"--batch {batch} exceeds the {len(split.train)} training images")
    p = init_params(hidden, seed)
    rng = rng_for(seed, STREAM_GRADCHECK, 999)
    p.b1 += 0.1 * rng.standard_normal(p.b1.shape)  # nonzero biases exercise every term
    p.b2 += 0.1 * rng.standard_normal(p.b2.shape)
    X = np.ascontiguousarray(split.train.X[:, :batch])
    return p, X, one_hot(split.train.labels[:batch])


def _fmt(x: float) -> str:
    return f"{x:.3e}"


def report_markdown(report: Report) -> str:
    s = report.settings
    failing = ", ".join(sorted(report.failed_blocks()))
    lines = [
        "# Gradient check",
        "",
        f"Verdict: **{'PASS' if report.passed else 'FAIL'}**"
        + ("" if report.passed else f" (failing blocks: {failing})"),
        "",
        f"Network 784 -> {s['hidden']} -> 10, batch of {s['batch']} mnist5k images, "
        f"lambda = {s['reg']}, central differences with h = {s['h']:.3g}, seed {s['seed']}.",
        "Pass rule per entry: |fd - g| <= rtol |g| + c u |J| / h with rtol = "
        f"{tolerance('gradcheck.rtol'):g}, c = {tolerance('gradcheck.roundoff_factor'):g} "
        "(tolerances.toml).",
        "",
        "## Entry by entry",
        "",
        "| block | term | shape | checked | step | max abs err | max rel err | worst index "
        "| fd | analytic | ratio | verdict |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for e in report.entries:
        lines.append(
            f"| {e.block} | {e.term} | {e.shape[0]}x{e.shape[1]} | {e.checked}/{e.total} | "
            f"{e.h:.1e} | {_fmt(e.max_abs)} | {_fmt(e.max_rel)} | {e.worst_index} | "
            f"{e.fd:.10g} | {e.analytic:.10g} | {e.ratio:.2g} | "
            f"{'pass' if e.passed else '**FAIL**'} |")
    lo, hi = tolerance("gradcheck.slope_min"), tolerance("gradcheck.slope_max")
    lines += [
        "",
        "## Step sweep (total loss, one seeded random direction per block)",
        "",
        f"Pass rule: relative error at the best h <= {tolerance('gradcheck.rtol'):g} and "
        f"truncation-side slope in [{lo:g}, {hi:g}]. See `gradcheck.png`.",
        "",
        "| direction | best h | error at best h | slope | fitted over h in | verdict |",
        "|---|---|---|---|---|---|",
    ]
    for w in [*report.sweeps, report.whole]:
        slope = "n/a (roundoff only)" if w.slope is None else f"{w.slope:.2f}"
        span = (f"[{min(w.fit_steps):.0e}, {max(w.fit_steps):.0e}]" if w.fit_steps else "-")
        lines.append(f"| {w.block} | {w.best_h:.0e} | {_fmt(w.best_error)} | {slope} | {span} "
                     f"| {'pass' if w.passed else '**FAIL**'} |")
    return "\n".join(lines) + "\n"


def plot_sweeps(report: Report, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for w in [*report.sweeps, report.whole]:
        ax.loglog(w.steps, w.errors, marker="o", ms=3, label=f"{w.block} (slope "
                  f"{'n/a' if w.slope is None else f'{w.slope:.2f}'})")
    steps = np.array([h for h in STEPS if h >= report.whole.best_h])
    ax.loglog(steps, report.whole.best_error * (steps / report.whole.best_h) ** 2, "k--",
              lw=0.8, label="slope 2")
    ax.set_xlabel("step h")
    ax.set_ylabel("relative error of the directional derivative")
    ax.set_title("Central differences against backprop: the V-curve")
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=8)
    save_figure(fig, path)
    plt.close(fig)


def report_folder(directory: Path) -> Folder:
    return Folder(Path(directory), ("report.json", "report.md", "gradcheck.png"))


def write_report(report: Report, directory: Path) -> None:
    where = report_folder(directory)
    where.check()
    write_json(where.file("report.json"), report.as_dict())
    write_text(where.file("report.md"), report_markdown(report))
    plot_sweeps(report, where.file("gradcheck.png"))


@dataclass(frozen=True)
class Settings:
    """The problem a gradient check runs on: 784 -> hidden -> 10, `batch` real images of
    `data`, lambda `reg` (positive, so that the L2 term is checked), every entry of a block
    up to max_entries, else a seeded sample of that many."""

    hidden: int = 8
    batch: int = 16
    reg: float = 1e-2
    seed: int = 0
    data: str = MNIST5K
    max_entries: int = 20000


def run(settings: Settings) -> Report:
    """Every check of the module on the problem that settings describe."""
    p, X, Y = check_problem(settings.hidden, settings.batch, settings.seed, settings.data)
    return check(p, X, Y, settings.reg, max_entries=settings.max_entries, seed=settings.seed)
