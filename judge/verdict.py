"""The outcome of one comparison: is the difference from the oracle roundoff, or a bug?

A verdict holds up to three tests, each a ratio that passes at 1 or below:

- the rigorous tier: error / a worst-case bound (Higham's gamma_n) that no correct result
  can exceed, whatever its summation order. Above 1 the result is certainly wrong.
- the statistical tier: error / a bound that honest rounding errors (mean zero, Higham and
  Mary) stay below except with a probability too small to matter (tolerances.toml
  [statistical]). Above 1 the error is too large for honest roundoff in this precision.
- for GEMM and row sums, the precision test: its statistic over its threshold. Above 1 the
  result behaves as if computed in a lower precision than declared (judge/precision.py).
  Gradient and step verdicts report their effective bits without the test.

`ratio` is the largest of them and `passed` needs all; index, actual, expected, error and
allowed describe the worst element of the tier with the largest ratio. A `cause` fails the
verdict whatever the ratios (a result in a coarser dtype than declared, an argument the
implementation modified) and says so. str() says which test failed and what that means.

A verdict is never a pass that was not computed: a bound or an oracle's value that is not
finite raises CannotJudge (the check says "cannot judge" and exits 2), and a NaN ratio is an
infinite one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Every public verdict function runs under it: overflow and NaN in an intermediate are
# judged (a non-finite bound or oracle value is CannotJudge, a non-finite result fails), not
# warned about.
QUIET = np.errstate(all="ignore")

MEANING = {
    "rigorous": "outside the worst-case bound: certainly a bug",
    "statistical": "too large for honest roundoff in this precision",
    "precision": "errors larger than the declared precision's (precision test)",
}


class CannotJudge(ValueError):
    """The judge cannot decide: its bound or the oracle's value is not finite for these
    inputs, or they lie outside the range where the bounds were derived."""


@dataclass(frozen=True)
class Precision:
    """What precision a result behaves as if computed in (judge/precision.py)."""

    effective_bits: float  # significand bits, the implicit one included (float32: 24)
    model: str  # float64, float32, tf32, bfloat16, float16-accumulation or unexplained
    declared: str
    ratio: float | None  # the test's statistic over its threshold: above 1, worse than
    # declared; None where too few independent errors to test (the bits are still measured)
    lower_bound: bool  # the bits are at least this (no reference beyond the result's dtype)
    evidence: str  # how the model was told, in words

    def describe(self) -> str:
        names = {"tf32": "TF32 inputs", "bfloat16": "bfloat16 inputs",
                 "float16-accumulation": "float16 accumulation"}
        bits = f"{'at least ' if self.lower_bound else ''}{self.effective_bits:.1f}"
        like = ("matches no precision model" if self.model == "unexplained" else
                f"behaves like {names.get(self.model, self.model)}")
        return f"{like}, {bits} significand bits, declared {self.declared}"


@dataclass(frozen=True)
class Element:
    """One element of a comparison: where, the result's value, the oracle's, and what the
    deciding tier allows there."""

    index: tuple[int, ...]
    actual: float
    expected: float
    allowed: float

    def __str__(self) -> str:
        return (f"{list(self.index)}: actual {self.actual!r}, expected {self.expected!r}, "
                f"allowed {self.allowed:.3g}")


@dataclass(frozen=True)
class Cause:
    """The most likely cause of a failure (judge/diagnose.py's catalogue, or "unexplained"),
    with the evidence that names it."""

    name: str
    evidence: str

    def __str__(self) -> str:
        return f"{self.name}: {self.evidence}"


SHOWN = 5  # elements a failing verdict lists, worst first (numpy's testing shows a few)


@dataclass(frozen=True)
class Verdict:
    check: str
    passed: bool
    ratio: float  # the largest ratio of the tests that ran
    index: tuple[int, ...]  # the worst element of the deciding tier
    actual: float
    expected: float
    error: float
    allowed: float
    n_failed: int  # elements outside the deciding tier's bound
    size: int
    rigorous_ratio: float
    statistical_ratio: float | None = None  # None: no statistical tier (ulps, exact mode)
    precision: Precision | None = None  # GEMM, row-sum, gradient and step verdicts
    tier: str = "rigorous"  # which test decided ratio
    cause: Cause | None = None  # why it failed (a cause given to judge_elements fails it)
    elements: tuple[Element, ...] = ()  # the worst outside the bound, at most SHOWN

    @property
    def effective_bits(self) -> float | None:
        return None if self.precision is None else self.precision.effective_bits

    @property
    def precision_model(self) -> str | None:
        return None if self.precision is None else self.precision.model

    def failed_tests(self) -> list[str]:
        ratios = {"rigorous": self.rigorous_ratio, "statistical": self.statistical_ratio,
                  "precision": None if self.precision is None else self.precision.ratio}
        return [name for name, r in ratios.items() if r is not None and not r <= 1.0]

    def __str__(self) -> str:
        """One line for a pass; for a failure, what failed and by how much, where (the worst
        elements), the cause with its evidence, and the effective precision, a line each."""
        tiers = f"rigorous ratio {self.rigorous_ratio:.3g}"
        if self.statistical_ratio is not None:
            tiers += f", statistical ratio {self.statistical_ratio:.3g}"
        if self.precision is not None and self.precision.ratio is not None:
            tiers += f", precision test ratio {self.precision.ratio:.3g}"
        precision = "" if self.precision is None else (
            f"{self.precision.describe()} ({'not tested: ' if self.precision.ratio is None else ''}"
            f"{self.precision.evidence})")
        if precision and not self.passed and self.cause is not None and \
                self.cause.name != "precision downgrade":  # no model for another cause's errors
            precision = (f"{'at least ' if self.precision.lower_bound else ''}"
                         f"{self.precision.effective_bits:.1f} effective significand bits, "
                         f"declared {self.precision.declared}, set by the errors of the cause "
                         "above (no precision model is claimed)")
        if self.passed:
            return (f"{self.check}: pass; {tiers}; worst at {self.index}: actual "
                    f"{self.actual!r}, expected {self.expected!r}, allowed {self.allowed:.3g}"
                    + (f"; {precision}" if precision else ""))
        meaning = "; ".join(MEANING[t] for t in self.failed_tests()) or "refused"
        lines = [f"{self.check}: FAIL ({meaning})",
                 f"  by how much: {tiers}; {self.n_failed} of {self.size} elements outside "
                 "the bound"]
        shown = self.elements or (Element(self.index, self.actual, self.expected,
                                          self.allowed),)
        lines += ["  where: " + str(shown[0])] + [f"         {e}" for e in shown[1:]]
        if self.cause is not None:
            lines.append(f"  cause: {self.cause}")
        if precision:
            lines.append(f"  precision: {precision}")
        return "\n".join(lines)


def assert_passes(verdict: Verdict, msg: str = "") -> None:
    """Raise AssertionError with the verdict's explanation (after the caller's msg) when it
    failed; hidden from pytest's traceback."""
    __tracebackhide__ = True
    if not verdict.passed:
        raise AssertionError(f"{msg}\n{verdict}" if msg else str(verdict))


def _ratio(error: np.ndarray, allowed: np.ndarray) -> np.ndarray:
    """error / allowed per element, in one new array; 0/0 is 0, x/0 and NaN inf."""
    ratio = np.zeros(error.shape)
    with np.errstate(all="ignore"):  # x/0 and overflow are inf, which fails as it should
        np.divide(error, allowed, out=ratio, where=error != 0)
    ratio[np.isnan(ratio) | (ratio < 0)] = np.inf  # x / -0.0 is -inf: 0 allows nothing
    return ratio


def _worst(error: np.ndarray, allowed: np.ndarray) -> tuple[int, float]:
    """(flat index of the worst element, its ratio)."""
    ratio = _ratio(error, allowed)
    flat = int(np.argmax(ratio))
    return flat, float(ratio.flat[flat])


def _finite(check: str, what: str, values: np.ndarray) -> None:
    bad = np.flatnonzero(~np.isfinite(values))
    if bad.size:
        at = tuple(int(i) for i in np.unravel_index(bad[0], values.shape))
        raise CannotJudge(f"cannot judge {check}: {what} is {values.flat[bad[0]]} at {at} "
                          f"({bad.size} of {values.size} elements): the inputs lie outside "
                          "the range where its bounds hold (overflow)")


def judge_elements(check: str, actual: np.ndarray, expected: np.ndarray, error: np.ndarray,
                   rigorous: np.ndarray, statistical: np.ndarray | None = None,
                   precision: Precision | None = None, cause: Cause | None = None) -> Verdict:
    """A verdict from per-element errors and each tier's allowed errors (float64, broadcast
    to the error's shape); CannotJudge where the expected values or a bound are not finite.
    `cause`: why the result fails whatever its errors."""
    error = np.asarray(error, dtype=np.float64)
    expected64 = np.asarray(expected, dtype=np.float64)
    _finite(check, "the oracle's value", expected64)
    # a result that is not finite where the oracle's value is: infinitely wrong, whatever a
    # distance in ulps or a bound would make of it
    if error.shape == np.shape(actual):
        infinite = ~np.isfinite(np.asarray(actual))
        if infinite.any():  # a copy only then: error may be the caller's, and C-sized
            error = np.where(infinite, np.inf, error)
    if error.size == 0:
        return Verdict(check, cause is None, 0.0, (), np.nan, np.nan, 0.0, 0.0, 0, 0, 0.0,
                       None if statistical is None else 0.0, precision, cause=cause)
    tiers = {"rigorous": rigorous} | ({} if statistical is None else
                                      {"statistical": statistical})
    found = {}
    for name, allowed in tiers.items():
        allowed = np.broadcast_to(np.asarray(allowed, dtype=np.float64), error.shape)
        _finite(check, f"the {name} bound", allowed)
        if np.any(allowed < 0):
            raise CannotJudge(f"cannot judge {check}: the {name} bound is negative")
        found[name] = (allowed, *_worst(error, allowed))
    tier = max(found, key=lambda name: found[name][2])
    allowed, flat, worst = found[tier]
    ratio = _ratio(error, allowed)  # the deciding tier's, again: one such array at a time
    tested = 0.0 if precision is None or precision.ratio is None else precision.ratio
    tested = np.inf if np.isnan(tested) else tested  # a test that could not compute fails
    overall = max(worst, tested)
    if tested > worst:
        tier = "precision"
    at = lambda k: tuple(int(i) for i in np.unravel_index(k, error.shape))  # noqa: E731
    outside = np.flatnonzero(ratio > 1.0)
    worst_first = outside[np.argsort(-ratio.flat[outside], kind="stable")[:SHOWN]]
    return Verdict(
        check=check, passed=bool(overall <= 1.0) and cause is None, ratio=overall,
        index=at(flat), actual=float(actual.flat[flat]), expected=float(expected.flat[flat]),
        error=float(error.flat[flat]), allowed=float(allowed.flat[flat]),
        n_failed=int(outside.size), size=error.size,
        rigorous_ratio=found["rigorous"][2],
        statistical_ratio=found["statistical"][2] if "statistical" in found else None,
        precision=precision, tier=tier, cause=cause,
        elements=tuple(Element(at(k), float(actual.flat[k]), float(expected.flat[k]),
                               float(allowed.flat[k])) for k in worst_first))
