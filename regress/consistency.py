"""Is a new trajectory one that roundoff alone could have produced? The ensemble consistency
test, after Baker et al. (Geosci. Model Dev. 8, 2015: the CESM ensemble consistency test).

Like CESM-ECT, the quantities are standardised by the ensemble and rotated onto the
ensemble's principal components, because they are strongly correlated (a block's norm and
its sum, the loss and every block, move together once the perturbations have spread).
CESM-ECT then counts the components whose score lies outside +-2 standard deviations; here
every retained component's score enters one statistic, Hotelling's T^2 for a new observation,

    T^2 = sum_j (score_j / sd_j)^2,   T^2 (M - r) / (r (M - 1)) * M / (M + 1) ~ F(r, M - r),

with M members and r retained components, so that each step has an exact p-value under the
ensemble's Gaussian spread, and no count threshold has to be tuned by hand. Steps are tested
together with Bonferroni's correction: the run fails when some step's p-value is below
alpha / K, so the stated false-alarm rate is at most alpha ([regress] false_alarm in
tolerances.toml); its measured rate over harmless reruns is in docs/regress-false-alarms.md.

A quantity with no spread at a step (every member equal) admits only that value there.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..judge.tolerances import tolerance


@dataclass(frozen=True)
class StepModel:
    """The ensemble at one step: mean, standard deviation, and the principal axes of the
    standardised members with their standard deviations (the retained ones)."""

    mean: np.ndarray  # Q
    sd: np.ndarray  # Q
    axes: np.ndarray  # r x Q
    axis_sd: np.ndarray  # r
    members: int


def fit_step(values: np.ndarray) -> StepModel:
    """values: M x Q, the members at one step."""
    mean, sd = values.mean(axis=0), values.std(axis=0, ddof=1)
    live = sd > 0
    z = np.zeros_like(values)
    z[:, live] = (values[:, live] - mean[live]) / sd[live]
    _, s, vt = np.linalg.svd(z, full_matrices=False)
    axis_sd = s / np.sqrt(len(values) - 1)
    keep = axis_sd > tolerance("regress.pc_floor") * max(axis_sd.max(initial=0.0), 1e-300)
    return StepModel(mean, sd, vt[keep], axis_sd[keep], len(values))


def fit(ensemble: np.ndarray) -> list[StepModel]:
    """ensemble: M x K x Q."""
    return [fit_step(ensemble[:, k]) for k in range(ensemble.shape[1])]


@dataclass(frozen=True)
class StepTest:
    t2: float
    p: float  # the p-value of T^2; 0 when a spread-less quantity moved
    worst: int  # the quantity with the largest |z|
    z: float


def step_test(model: StepModel, x: np.ndarray) -> StepTest:
    from scipy import stats  # not at import: scipy.stats starts a thread pool

    dead = model.sd == 0
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(dead, np.where(x == model.mean, 0.0, np.inf), (x - model.mean) / model.sd)
    worst = int(np.argmax(np.abs(z)))
    if not np.all(np.isfinite(z)):
        return StepTest(np.inf, 0.0, worst, float(z[worst]))
    r, M = len(model.axis_sd), model.members
    if r == 0:
        return StepTest(0.0, 1.0, worst, float(z[worst]))
    scores = model.axes @ np.where(dead, 0.0, z) / model.axis_sd
    t2 = float(scores @ scores)
    f = t2 * (M - r) / (r * (M - 1)) * M / (M + 1)
    return StepTest(t2, float(stats.f.sf(f, r, M - r)), worst, float(z[worst]))


@dataclass(frozen=True)
class Consistency:
    """The verdict on a whole trajectory: consistent or not, where it left the ensemble."""

    consistent: bool
    identical: bool
    first_step: int | None  # the first step whose p-value is below alpha / K (1-based)
    min_p: float
    worst_step: int  # 1-based
    worst_quantity: int
    worst_z: float
    alpha: float
    steps: list[StepTest]


def judge(models: list[StepModel], x: np.ndarray, recorded: np.ndarray | None = None,
          alpha: float | None = None) -> Consistency:
    """x: K x Q, the new trajectory; recorded: the baseline's own (bit-identical: identical)."""
    alpha = tolerance("regress.false_alarm") if alpha is None else alpha
    if x.shape != (len(models), len(models[0].mean)):
        raise ValueError(f"the trajectory is {x.shape[0]} steps x {x.shape[1]} quantities, the "
                         f"ensemble {len(models)} x {len(models[0].mean)}")
    tests = [step_test(m, row) for m, row in zip(models, x, strict=True)]
    p = np.array([t.p for t in tests])
    failing = np.flatnonzero(p < alpha / len(tests))
    worst = int(np.argmin(p))
    identical = recorded is not None and np.array_equal(x, recorded)
    return Consistency(len(failing) == 0, identical,
                       int(failing[0]) + 1 if len(failing) else None, float(p.min()),
                       worst + 1, tests[worst].worst, tests[worst].z, alpha, tests)
