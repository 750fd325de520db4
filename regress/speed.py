"""Speed, measured several times so that its spread is kept, and judged by a rank test.

Two things move a rate that no change of the code explains. The machine drifts (its other
tenants, its clock), by 10% and more between a baseline's recording and a check. And each
process has a speed of its own for as long as it lives (where its arrays land, its hash
seed): on our 2-core VM one ran the same step 16% slower than the next, at every repeat.
Samples from one process share that factor, so a rank test on them is far too sure of
itself. So:

- each sample comes from its own fresh process (regress/speed_worker.py, one after another),
  which makes the samples independent, as the rank test assumes;
- there, after one untimed run of each, the work and a fixed numpy probe run in turn for
  SAMPLE_SECONDS, and the sample is the median of the ratios of each run's rate to the
  probe's just before it: the machine's drift cancels at the scale of a run, and an
  interrupted run moves a median little;
- all of it on one BLAS thread (threadpoolctl: the other tenants compete for fewer cores).

Device work (a GPU kernel's GFLOP/s) has no probe: the host's speed does not calibrate it;
its sample is the median rate of its runs.

A slowdown is a regression when the new relative rates are at most (1 - [regress] slowdown)
of the baseline's, by the Hodges-Lehmann estimate that goes with the rank test (the median
of every new rate over every old one), and a one-sided Mann-Whitney U test
(scipy.stats.mannwhitneyu) says the new ones are lower with p below [regress] speed_p. Speed
is compared only on the machine that recorded the baseline (regress/machine.py's
fingerprint); elsewhere the check says so and why. Measured:
`python benchmarks/regress_speed_noise.py` (docs/regress-speed.md).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..judge.tolerances import tolerance

PROBE_SHAPE = (256, 784, 64)  # a product the size of a step's z1 = W1 X, and its exp
PROBE_CALLS = 20  # about 10 ms on one core
SAMPLE_SECONDS = 1.0

Work = Callable[[], float]  # does the work once, returns the amount done (images, flops)


@dataclass(frozen=True)
class Samples:
    """One sample per process: the median rate of its runs (work per second) and, for host
    work, the median ratio of a run's rate to the probe's beside it (None for device work)."""

    rates: list[float]
    relative: list[float] | None

    @classmethod
    def of(cls, pairs: list[tuple[float, float | None]]) -> Samples:
        """From measure()'s samples."""
        relative = [r for _, r in pairs]
        return cls([rate for rate, _ in pairs], None if None in relative else relative)

    def to_json(self) -> dict:
        return {"rates": self.rates, "relative": self.relative}

    @classmethod
    def from_json(cls, entry) -> Samples | None:
        """The samples of a baseline's entry, or None where it is malformed."""
        if not isinstance(entry, dict):
            return None
        rates, relative = entry.get("rates"), entry.get("relative")
        if not _positive_numbers(rates) or not (relative is None or (
                _positive_numbers(relative) and len(relative) == len(rates))):
            return None
        return cls([float(x) for x in rates],
                   None if relative is None else [float(x) for x in relative])


def _positive_numbers(v) -> bool:
    """Two or more rates, as a baseline must hold them."""
    return (isinstance(v, list) and len(v) >= 2
            and all(isinstance(x, int | float) and x > 0 for x in v))


@dataclass(frozen=True)
class SpeedVerdict:
    name: str
    status: str  # "same", "slower" (a regression), "faster", "not compared"
    ratio: float | None  # now over then (shift()), relative to the probe where both have it
    p: float | None
    reason: str = ""
    raw_ratio: float | None = None  # the same of the rates themselves

    def __str__(self) -> str:
        if self.status == "not compared":
            return f"{self.name}: not compared ({self.reason})"
        calibrated = "" if self.raw_ratio is None else (
            f" relative to the probe (uncalibrated {self.raw_ratio:.3f})")
        return (f"{self.name}: {self.status}, {self.ratio:.3f} x the baseline's"
                f"{calibrated} (Mann-Whitney p = {self.p:.2g})")


def _probe() -> Work:
    M, K, N = PROBE_SHAPE
    rng = np.random.default_rng(0)
    A, B = rng.standard_normal((M, K)), rng.standard_normal((K, N))

    def calls() -> float:
        for _ in range(PROBE_CALLS):
            np.exp(-np.abs(A @ B)).sum()
        return float(PROBE_CALLS)

    return calls


def _rate(work: Work) -> float:
    began = time.perf_counter()
    amount = work()
    return amount / (time.perf_counter() - began)


def measure(work: Work, probe: bool = True) -> tuple[float, float | None]:
    """This process's sample: (median rate, median rate relative to the probe, or None
    without one). Call it in a fresh process for each sample (regress/speed_worker.py)."""
    from threadpoolctl import threadpool_limits

    calls = _probe() if probe else None
    rates, relative = [], []
    with threadpool_limits(limits=1, user_api="blas"):
        work()  # warm-up runs: caches, the allocator, a kernel's compilation
        if calls is not None:
            calls()
        began = time.perf_counter()
        while not rates or time.perf_counter() - began < SAMPLE_SECONDS:
            probed = _rate(calls) if calls is not None else None
            rates.append(_rate(work))
            if probed is not None:
                relative.append(rates[-1] / probed)
    return statistics.median(rates), statistics.median(relative) if probe else None


def shift(now: list[float], then: list[float]) -> float:
    """The Hodges-Lehmann estimate of now over then: the median of every ratio of a new rate
    to an old one."""
    return statistics.median(a / b for a in now for b in then)


def compare(name: str, then: Samples, now: Samples) -> SpeedVerdict:
    from scipy.stats import mannwhitneyu

    calibrated = then.relative is not None and now.relative is not None
    a, b = (now.relative, then.relative) if calibrated else (now.rates, then.rates)
    ratio = shift(a, b)
    raw = shift(now.rates, then.rates) if calibrated else None
    slower = float(mannwhitneyu(a, b, alternative="less").pvalue)
    faster = float(mannwhitneyu(a, b, alternative="greater").pvalue)
    p_max, change = tolerance("regress.speed_p"), tolerance("regress.slowdown")
    if ratio <= 1 - change and slower < p_max:
        return SpeedVerdict(name, "slower", ratio, slower, raw_ratio=raw)
    if ratio >= 1 + change and faster < p_max:
        return SpeedVerdict(name, "faster", ratio, faster, raw_ratio=raw)
    return SpeedVerdict(name, "same", ratio, min(slower, faster), raw_ratio=raw)
