"""Which bug (issue: "say which bug"): implementations written as tutorials and courses write
them, each with one classic bug, through the front door's batteries; the failing cases must
name the cause with its evidence, a passing one none. The corpus's confusion table (every
planted bug's true cause, 100% named right, none wrong) is tests/test_separation.py's."""

import itertools

import numpy as np
import pytest

from oraclenet import check_gemm, check_grad, check_step
from oraclenet.check import gemm as battery
from oraclenet.check.report import heat_map_limits
from oraclenet.check.runner import Outcome


def right(C, A, B, alpha, beta):
    C[:] = alpha * (A @ B) + (beta * C if beta != 0 else 0)


def columns_from_48_unwritten(C, A, B, alpha, beta):
    """A launch of 3 blocks of 16 columns, sized by hand: columns 48 and up never written."""
    C[:, :48] = alpha * (A @ B[:, :48]) + (beta * C[:, :48] if beta != 0 else 0)


def last_k_tiles_dropped(C, A, B, alpha, beta):
    keep = A.shape[1] // 16 * 16 or A.shape[1]
    C[:] = alpha * (A[:, :keep] @ B[:keep]) + (beta * C if beta != 0 else 0)


def beta_applied_twice(C, A, B, alpha, beta):
    C *= beta
    C[:] = alpha * (A @ B) + beta * C if beta != 0 else alpha * (A @ B)


def reads_c_when_beta_is_0(C, A, B, alpha, beta):
    C[:] = alpha * (A @ B) + beta * C


RACES = itertools.count()


def racing(C, A, B, alpha, beta):
    """A missing barrier: one element a stale partial sum, a different one each call."""
    right(C, A, B, alpha, beta)
    k = next(RACES)
    i, j = k % C.shape[0], (7 * k) % C.shape[1]
    C[i, j] -= alpha * A[i, -1] * B[-1, j]


DEGENERATE = ("1x1x1", "H 1, N 1")  # one element or one image: several causes coincide


def causes(report) -> dict[str, set[str]]:
    """case -> the causes named for its failing verdicts (the degenerate cases left out)."""
    return {o.case + " " + o.shape: {v.cause.name for v in o.verdicts if not v.passed}
            for o in report.outcomes if not o.passed and o.shape not in DEGENERATE}


def evidence(report) -> str:
    return "\n".join(str(v.cause) for o in report.outcomes for v in o.verdicts
                     if not v.passed)


def test_a_correct_gemm_has_no_cause():
    report = check_gemm(right, timeout=None)
    assert report.passed and all(v.cause is None for o in report.outcomes for v in o.verdicts)


@pytest.mark.parametrize("func, cause, words", [
    (columns_from_48_unwritten, "elements never written",
     "in columns 48..64 (every row); it starts at column 48, a multiple of 16"),
    (last_k_tiles_dropped, "K terms missing", "the sum stopped at a multiple of 16"),
    (beta_applied_twice, "alpha or beta misapplied", "beta applied twice: C = 2 A B + 25 C0"),
    (reads_c_when_beta_is_0, "C read when beta is 0", "C's old non-finite values came out"),
])
def test_each_classic_gemm_bug_is_named(func, cause, words):
    report = check_gemm(func, timeout=None)
    named = causes(report)
    assert named and all(found == {cause} for found in named.values()), named
    assert words in evidence(report), evidence(report)


def last_k_term_dropped(C, A, B, alpha, beta):
    """for k in range(K - 1): at K = 1 no term at all, which reads as C never written."""
    C[...] = alpha * (A[:, :-1] @ B[:-1]) + (beta * C if beta else 0)


def test_the_summary_names_the_cause_most_failing_cases_share():
    """The first case (1 x 1 x 1) says "elements never written"; most say "K terms missing",
    and the summary says so too, with its evidence."""
    summary = check_gemm(last_k_term_dropped, timeout=None).summary()
    first, *rest = summary.splitlines()
    assert first.startswith("FAIL: 13 of 13 cases; first: ragged, alpha 1 beta 0 (1x1x1)")
    line = next(r for r in rest if r.startswith("most cases ("))
    assert "cause: K terms missing: C is the sum over k < " in line, summary
    assert not any(r.startswith("most cases (") for r in check_gemm(
        beta_applied_twice, timeout=None).summary().splitlines())  # one cause: said once


def test_a_race_is_named_where_the_call_is_made_again():
    """The guard band's call is not repeated (its buffer is placed once): one element wrong
    there is all it shows."""
    named = causes(check_gemm(racing, timeout=None))
    assert sum(found == {"race"} for found in named.values()) >= 6, named
    assert all(found <= {"race", "isolated wrong elements"} for found in named.values()), named


def test_writes_outside_c_name_the_offsets():
    buffer = np.full(2 * battery.GUARD + 6, battery.SENTINEL)  # C: 6 elements in the middle
    inside = np.zeros(buffer.size, bool)
    inside[battery.GUARD:battery.GUARD + 6] = True
    buffer[inside] = 0.5
    buffer[battery.GUARD - 1] = 0.0  # just before C
    buffer[battery.GUARD + 6 + 2] = 1.0  # the third element after its last
    v = battery._outside_verdict(buffer, inside, "C", "guard band")
    assert not v.passed and v.cause.name == "writes outside C"
    assert "1 before C (offsets -1)" in v.cause.evidence
    assert "1 after its last element (offsets +3)" in v.cause.evidence


def _grad(W1, b1, W2, b2, X, Y, reg):
    a1 = 1 / (1 + np.exp(-(W1 @ X + b1)))
    z2 = W2 @ a1 + b2
    e = np.exp(z2 - z2.max(axis=0))
    dz2 = (e / e.sum(axis=0) - Y) / X.shape[1]
    dz1 = (W2.T @ dz2) * a1 * (1 - a1)
    return [dz1 @ X.T + reg * W1, dz1.sum(axis=1, keepdims=True), dz2 @ a1.T + reg * W2,
            dz2.sum(axis=1, keepdims=True)]


def no_l2(W1, b1, W2, b2, X, Y, reg):
    return _grad(W1, b1, W2, b2, X, Y, 0 * reg)


def log_likelihood_ascent(W1, b1, W2, b2, X, Y, reg):
    """The gradient of the summed log-likelihood: -N times the loss's."""
    return [-X.shape[1] * g for g in _grad(W1, b1, W2, b2, X, Y, reg)]


def w2_updated_first(W1, b1, W2, b2, X, Y, lr, reg):
    """The output layer updated in place before the hidden layer's delta uses W2."""
    a1 = 1 / (1 + np.exp(-(W1 @ X + b1)))
    z2 = W2 @ a1 + b2
    e = np.exp(z2 - z2.max(axis=0))
    dz2 = (e / e.sum(axis=0) - Y) / X.shape[1]
    W2 = W2 - lr * (dz2 @ a1.T + reg * W2)
    b2 = b2 - lr * dz2.sum(axis=1, keepdims=True)
    dz1 = (W2.T @ dz2) * a1 * (1 - a1)
    return (W1 - lr * (dz1 @ X.T + reg * W1), b1 - lr * dz1.sum(axis=1, keepdims=True), W2,
            b2)


@pytest.mark.parametrize("run, cause, words", [
    (lambda: check_grad(no_l2, timeout=None, sizes="quick"), "L2 term missing",
     "the L2 term missing (it reproduces them to"),
    (lambda: check_grad(log_likelihood_ascent, timeout=None), "-N times the gradient",
     "-N times the gradient (log-likelihood ascent, summed)"),  # at N = 1: the sign
    (lambda: check_step(w2_updated_first, timeout=None), "update order",
     "W2 updated before dz1 is computed from it"),
])
def test_each_classic_network_bug_is_named(run, cause, words):
    report = run()
    named = {name for found in causes(report).values() for name in found}
    assert named == {cause}, (named, evidence(report))
    assert words in evidence(report)


@pytest.mark.parametrize(("given", "cause", "words"), [
    (0.0, "L2 weight not the one given",
     "an L2 term of weight lambda = 0.0003 where none was given (if that is your lambda, "
     "give it: --reg 0.0003)"),
    (0.01, "L2 term scaled", "lambda 0.0003 where 0.01 was given (if that is your lambda, "
                             "give --reg 0.0003)"),
])
def test_a_step_judged_with_another_lambda_than_it_used_says_which(given, cause, words):
    """An honest step made with lambda 3e-4, judged at reg 0 (the files' default) and at the
    course's 0.01: the fitted lambda is named, to pass as --reg."""
    def lambda_3e_4(W1, b1, W2, b2, X, Y, lr, reg):
        g = _grad(W1, b1, W2, b2, X, Y, 3e-4)
        return tuple(a - lr * d for a, d in zip((W1, b1, W2, b2), g, strict=True))

    report = check_step(lambda_3e_4, reg=given, timeout=None)
    named = {name for found in causes(report).values() for name in found}
    assert named == {cause}, (named, evidence(report))
    assert words in evidence(report), evidence(report)


def test_a_narrowed_search_says_which_blocks_are_right():
    def half_the_hidden_delta(W1, b1, W2, b2, X, Y, reg):
        g = _grad(W1, b1, W2, b2, X, Y, reg)
        return [0.5 * g[0] + 0.5 * reg * W1, 0.5 * g[1], g[2], g[3]]

    text = evidence(check_grad(half_the_hidden_delta, timeout=None))
    assert "dW1, db1 wrong, dW2, db2 right" in text or "dW2, db2 right" in text, text


def test_a_heat_map_spans_its_data():
    """A float32 downgrade (1e7) and a dropped K tile (1e13) get different colour scales; no
    clip at 1e6."""
    ratio = np.full((4, 5), 0.3)
    ratio[1, 2] = 1e13
    outcome = Outcome("c", "4x5x1", "FAIL", ratio_map=ratio)
    low, high = heat_map_limits(outcome.ratio_map)
    assert low == pytest.approx(np.log10(0.3)) or low == -1.0
    assert high == pytest.approx(13.0)
