"""check/runner.py's per-case timeout, measured with cases that each take a good share of it,
not only with one hung case among instant ones: cases at 40% of the timeout all pass however
many run in one child, and a case at 150% is reported as timed out, where it was."""

import time

import pytest

from oraclenet.check.runner import SKIPPED, Battery, Outcome, run_cases

TIMEOUT_S = 1.0  # the timeout under test; every case's duration is a share of it
SHARE = 0.4  # a case that takes a good share of the timeout, and must pass
OVER = 1.5  # a case that outlasts the timeout by half of it, and must time out


class Case:
    def __init__(self, share: float):
        self.share, self.name, self.shape = share, f"{share:g} of the timeout", "-"


def sleeps(case: Case) -> Outcome:
    """A case whose implementation takes its share of the timeout, then passes."""
    time.sleep(case.share * TIMEOUT_S)
    return Outcome(case.name, case.shape, "pass")


def statuses(shares, keep_going=False) -> list[str]:
    cases = [Case(s) for s in shares]
    return [o.status for o in Battery("timing", cases, sleeps).check(TIMEOUT_S,
                                                                     keep_going=keep_going)]


def overhead_seconds() -> float:
    """What running a case costs beyond its own work, on this machine now: the wall time of
    instant cases through the runner (a fork, the pipe), per case."""
    began = time.monotonic()
    assert statuses([0.0] * 3) == ["pass"] * 3
    return (time.monotonic() - began) / 3


def test_cases_that_each_take_40_percent_of_the_timeout_all_pass():
    """Five of them take twice the timeout together: the timeout is each case's, not the
    child's (one child runs them all). The machine's own overhead is measured first: where a
    case's handling alone eats the 60% of the timeout the cases leave, a load makes the test
    meaningless, and it says so."""
    if (spent := overhead_seconds()) >= (1 - SHARE) * TIMEOUT_S:
        pytest.skip(f"cannot judge timing here: a case costs {spent:.2f} s beyond its work, "
                    f"the {(1 - SHARE) * TIMEOUT_S:.2f} s a case at {SHARE:.0%} leaves")
    began = time.monotonic()
    assert statuses([SHARE] * 5) == ["pass"] * 5
    assert time.monotonic() - began >= 5 * SHARE * TIMEOUT_S  # they did take their time


@pytest.mark.parametrize(("keep_going", "last"), [(False, "skipped"), (True, "pass")])
def test_a_case_that_takes_150_percent_of_the_timeout_times_out_between_slow_passes(
        keep_going, last):
    outcomes = Battery("timing", [Case(SHARE), Case(OVER), Case(SHARE)], sleeps).check(
        TIMEOUT_S, keep_going=keep_going)
    assert [o.status for o in outcomes] == ["pass", "timeout", last]
    assert outcomes[1].message == f"no result within {TIMEOUT_S:g} s"
    if not keep_going:
        assert outcomes[2].message == SKIPPED


def test_the_timed_out_case_is_stopped_at_the_timeout_not_waited_for():
    """A case that would take ten timeouts ends the check after about one: the child is
    killed, not joined."""
    began = time.monotonic()
    assert [o.status for o in run_cases(sleeps, [Case(10)], ["long"], ["-"], TIMEOUT_S)] \
        == ["timeout"]
    assert time.monotonic() - began < 10 * TIMEOUT_S
