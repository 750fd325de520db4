"""Speed, measured several times so that its spread is kept, and judged by a rank test.

A slowdown is a regression when the new runs' median rate is at most (1 - [regress]
slowdown) of the baseline's and a one-sided Mann-Whitney U test (scipy.stats.mannwhitneyu)
says the new rates are lower with p below [regress] speed_p. Speed is compared only on the
machine that recorded the baseline (regress/machine.py's fingerprint); elsewhere the check
says so and why.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

from ..judge.tolerances import tolerance


@dataclass(frozen=True)
class SpeedVerdict:
    name: str
    unit: str
    status: str  # "same", "slower" (a regression), "faster", "not compared"
    ratio: float | None  # median now / median then
    p: float | None
    reason: str = ""

    def __str__(self) -> str:
        if self.status == "not compared":
            return f"{self.name}: not compared ({self.reason})"
        return (f"{self.name}: {self.status}, median {self.ratio:.3f} x the baseline's "
                f"(Mann-Whitney p = {self.p:.2g})")


def rates(work: Callable[[], float], repeats: int) -> list[float]:
    """work() returns the amount done (images, flops); the rate of each of `repeats` runs."""
    out = []
    for _ in range(repeats):
        began = time.perf_counter()
        amount = work()
        out.append(amount / (time.perf_counter() - began))
    return out


def compare(name: str, unit: str, then: list[float], now: list[float]) -> SpeedVerdict:
    from scipy.stats import mannwhitneyu

    ratio = statistics.median(now) / statistics.median(then)
    slower = mannwhitneyu(now, then, alternative="less").pvalue
    faster = mannwhitneyu(now, then, alternative="greater").pvalue
    p_max = tolerance("regress.speed_p")
    if ratio <= 1 - tolerance("regress.slowdown") and slower < p_max:
        return SpeedVerdict(name, unit, "slower", ratio, float(slower))
    if ratio >= 1 + tolerance("regress.slowdown") and faster < p_max:
        return SpeedVerdict(name, unit, "faster", ratio, float(faster))
    return SpeedVerdict(name, unit, "same", ratio, float(min(slower, faster)))
