"""The statistical decisions of oraclenet regress fed synthetic samples whose answer is known,
on both sides of each threshold and in both directions: the speed rank test
(regress/speed.py compare) and the ensemble consistency test (regress/consistency.py). The
p-values that decide are worked out here independently: the exact Mann-Whitney distribution by
enumerating every split of the ranks, and the t prediction interval of one quantity."""

import itertools
import math
import statistics

import numpy as np
import pytest
from scipy import stats

from oraclenet.judge.tolerances import tolerance
from oraclenet.regress import consistency
from oraclenet.regress.speed import Samples, compare

N = 7  # samples a side, as `oraclenet regress` takes them
THEN = [100.0 + i for i in range(N)]  # a baseline's rates: 100 .. 106


def exact_p_slower(now, then) -> float:
    """P(U <= u) for U = #(now_i > then_j), every split of the pooled ranks equally likely
    (no ties): the exact one-sided Mann-Whitney p-value that now is lower."""
    pooled = sorted(now + then)
    rank = {x: i for i, x in enumerate(pooled)}

    def u(group) -> int:
        chosen = set(group)
        return sum(1 for a in group for b in range(len(pooled)) if b not in chosen and a > b)

    seen = u([rank[x] for x in now])
    splits = list(itertools.combinations(range(len(pooled)), len(now)))
    return sum(u(s) <= seen for s in splits) / len(splits)


def hodges_lehmann(now, then) -> float:
    return statistics.median(a / b for a in now for b in then)


def verdict(now, then=THEN, relative=None):
    """compare() on rates alone, or with probe-relative rates (now's, then's) given."""
    rel_now, rel_then = relative if relative is not None else (None, None)
    return compare("work", Samples(then, rel_then), Samples(now, rel_now))


# --- the speed rank test ------------------------------------------------------------------


@pytest.mark.parametrize("direction", ["slower", "faster"])
def test_a_change_on_either_side_of_the_slowdown_threshold(direction):
    """Every new sample beyond every old one (p = 1/3432, far below speed_p): a change of
    twice the threshold is named, one of half the threshold is 'same'."""
    change = tolerance("regress.slowdown")
    sign = -1 if direction == "slower" else 1
    for factor, expected in ((1 + sign * 2 * change, direction), (1 + sign * change / 2, "same")):
        now = [x * factor for x in THEN]
        if expected != "same":  # the samples do separate: the p-value is not what decides
            p = exact_p_slower(now, THEN) if direction == "slower" else \
                exact_p_slower(THEN, now)
            assert p == 1 / math.comb(2 * N, N) < tolerance("regress.speed_p")
        v = verdict(now)
        assert v.status == expected, (factor, str(v))
        assert v.ratio == hodges_lehmann(now, THEN)  # the median of every ratio, exactly


def with_u(u: int) -> list[float]:
    """New rates 30% below the baseline's but one, which lies above exactly u of the old
    ones: U (the count of new-over-old pairs) is u, the median of ratios stays near 0.7."""
    now = [x * 0.7 for x in THEN[1:]]
    return sorted([*now, THEN[u - 1] + 0.5 if u else THEN[0] * 0.7 - 1])


def test_the_p_threshold_is_met_on_one_side_and_not_the_other():
    """With the same large slowdown by the median of ratios, the verdict is 'slower' exactly
    while the exact p-value stays below speed_p (U = 0 .. 7 at 7 a side: p = 1/3432 ..
    43/3432, crossing 0.01 between U = 6 and 7): both sides of the threshold are met, and
    each is decided as its p says."""
    p_max, change = tolerance("regress.speed_p"), tolerance("regress.slowdown")
    sides = set()
    for u in range(N + 1):
        now = with_u(u)
        p, shift = exact_p_slower(now, THEN), hodges_lehmann(now, THEN)
        assert shift <= 1 - change, (u, shift)  # a slowdown well beyond the threshold
        sides.add(p < p_max)
        assert verdict(now).status == ("slower" if p < p_max else "same"), (u, p, shift)
    assert sides == {True, False}


def test_the_probe_relative_rates_decide_where_they_are_given():
    """The machine 20% slower (raw rates) while the code kept its speed relative to the probe:
    'same'; raw rates unchanged while the relative ones fell 20%: 'slower'."""
    slower = [x * 0.8 for x in THEN]
    assert verdict(slower, relative=(THEN, THEN)).status == "same"
    assert verdict(THEN, relative=(slower, THEN)).status == "slower"
    assert verdict(slower).status == "slower"  # no probe: the raw rates decide


# --- the ensemble consistency test -------------------------------------------------------


M, K = 30, 4  # members and steps of a synthetic ensemble


@pytest.fixture(scope="module")
def one_quantity():
    """M members of K steps of one Gaussian quantity, seeded: mean and spread per step."""
    rng = np.random.default_rng(11)
    ensemble = rng.normal(5.0, 0.25, (M, K, 1))
    return ensemble, consistency.fit(ensemble)


def prediction_limit(values: np.ndarray, level: float) -> float:
    """Half-width of the two-sided prediction interval for one new draw of one Gaussian
    quantity from M members: t_{M-1}(1 - level / 2) s sqrt(1 + 1/M) (the textbook interval,
    computed independently of the T^2 route)."""
    m = len(values)
    return stats.t.isf(level / 2, m - 1) * values.std(ddof=1) * math.sqrt(1 + 1 / m)


@pytest.mark.parametrize("direction", [1, -1])
@pytest.mark.parametrize("step", range(K))
def test_a_trajectory_just_inside_and_just_outside_the_prediction_interval(one_quantity,
                                                                           direction, step):
    """Every step at its ensemble mean but one, moved to 0.99 and 1.01 of the Bonferroni
    prediction limit (level false_alarm / K), up or down: consistent inside; outside,
    inconsistent from that step on, with that step's p-value just below the level."""
    ensemble, models = one_quantity
    level = tolerance("regress.false_alarm") / K
    x = ensemble.mean(axis=0).copy()
    values = ensemble[:, step, 0]
    limit = prediction_limit(values, level)
    for scale, consistent in ((0.99, True), (1.01, False)):
        x[step, 0] = values.mean() + direction * scale * limit
        found = consistency.judge(models, x)
        assert found.consistent is consistent, (scale, found.min_p)
        assert found.worst_step == step + 1
        assert (found.min_p < level) is not consistent
        if not consistent:
            assert found.first_step == step + 1


def test_a_quantity_without_spread_admits_only_its_value():
    rng = np.random.default_rng(12)
    ensemble = np.concatenate([rng.normal(0.0, 1.0, (M, K, 1)), np.full((M, K, 1), 3.0)],
                              axis=2)
    models = consistency.fit(ensemble)
    x = ensemble.mean(axis=0)
    assert consistency.judge(models, x).consistent
    for moved in (np.nextafter(3.0, 4.0), np.nextafter(3.0, 2.0)):
        y = x.copy()
        y[2, 1] = moved
        found = consistency.judge(models, y)
        assert not found.consistent and found.first_step == 3 and found.min_p == 0.0
