"""Gradient checks: the oracle's backprop passes; each planted bug fails in its own blocks."""

import json

import numpy as np
import pytest

from oraclenet.cli import main
from oraclenet.corpus.gradient import GRADIENT_BUGS
from oraclenet.judge import gradcheck
from oraclenet.judge.tolerances import tolerance

REG = 1e-2


@pytest.fixture(scope="module")
def problem():
    return gradcheck.check_problem(hidden=6, batch=12, seed=0)


@pytest.fixture(scope="module")
def report(problem):
    return gradcheck.check(*problem, REG)


def test_correct_backprop_passes_every_block_and_term(report):
    assert report.passed, gradcheck.report_markdown(report)
    assert {(e.block, e.term) for e in report.entries} == {
        (b, t) for b in ("W1", "b1", "W2", "b2") for t in gradcheck.TERMS}
    assert all(e.checked == e.total for e in report.entries)  # small net: every entry


def test_sweep_shows_the_v_curve_with_slope_two(report):
    lo, hi = tolerance("gradcheck.slope_min"), tolerance("gradcheck.slope_max")
    for w in [*report.sweeps, report.whole]:
        assert w.slope is not None and lo <= w.slope <= hi, (w.block, w.slope)
        errors = np.array(w.errors)
        best = int(np.argmin(errors))
        assert 0 < best < len(errors) - 1  # a V: larger errors on both sides of the best h
        depth = tolerance("gradcheck.v_depth")
        assert errors[0] > depth * errors[best] and errors[-1] > depth * errors[best]


def test_large_nets_check_a_seeded_sample(problem):
    p, X, Y = problem
    a = gradcheck.check(p, X, Y, REG, max_entries=50, seed=3)
    b = gradcheck.check(p, X, Y, REG, max_entries=50, seed=3)
    w1 = [e for e in a.entries if e.block == "W1"]
    assert all(e.checked == 50 and e.total == 6 * 784 for e in w1)
    assert [e.worst_index for e in a.entries] == [e.worst_index for e in b.entries]


@pytest.mark.parametrize("bug", sorted(GRADIENT_BUGS))
def test_planted_gradient_bug_fails_exactly_its_blocks(problem, bug):
    backward, blocks = GRADIENT_BUGS[bug]
    report = gradcheck.check(*problem, REG, backward=backward)
    assert not report.passed
    assert report.failed_blocks() == blocks
    worst = max(e.ratio for e in report.entries if e.block in blocks)
    assert worst >= tolerance("teeth.min_bug_ratio"), worst
    for w in report.sweeps:
        assert w.passed == (w.block not in blocks), (w.block, w.slope, w.best_error)
    assert not report.whole.passed


def test_missing_l2_is_caught_by_the_l2_term_check_alone(problem):
    backward, _ = GRADIENT_BUGS["missing L2 term in dW1"]
    report = gradcheck.check(*problem, REG, backward=backward)
    failing = {(e.block, e.term) for e in report.entries if not e.passed}
    assert ("W1", "l2") in failing and ("W1", "data") not in failing


def test_command_writes_the_report_and_exits_zero(tmp_path):
    code = main(["gradcheck", "-n", "4", "--batch", "8", "--report", str(tmp_path / "gc")])
    assert code == 0
    saved = json.loads((tmp_path / "gc" / "report.json").read_text())
    assert saved["passed"] is True and saved["failed_blocks"] == []
    assert "**PASS**" in (tmp_path / "gc" / "report.md").read_text()
    assert (tmp_path / "gc" / "gradcheck.png").read_bytes()[:4] == b"\x89PNG"


def test_command_exits_nonzero_and_names_the_block_for_a_bug(tmp_path, monkeypatch):
    backward, _ = GRADIENT_BUGS["db2 averaged instead of summed"]
    monkeypatch.setattr(gradcheck.network, "backward", backward)
    code = main(["gradcheck", "-n", "4", "--batch", "8", "--report", str(tmp_path)])
    assert code == 1
    assert "failing blocks: b2" in (tmp_path / "report.md").read_text()
