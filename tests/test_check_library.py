"""oraclenet as a library (assert_gemm, assert_grad, assert_step, check_gemm, agreed) and as a
pytest plugin: each passes correct results and fails planted bugs with the verdict's text;
the assertions hide their frames from pytest; under the real mpiexec every rank fails
together with the failing rank's message; importing oraclenet loads nothing heavy."""

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import oraclenet
from oraclenet.check import network
from oraclenet.check.gemm import cases as battery_cases
from oraclenet.judge import gradcheck
from oraclenet.reference.network import backward
from oraclenet.reference.network import step as step_in_place

BIN = Path(sys.executable).parent


@pytest.fixture
def gemm_operands(rng):
    A = rng.standard_normal((33, 20)).astype(np.float32)
    B = rng.standard_normal((20, 17)).astype(np.float32)
    C0 = rng.standard_normal((33, 17)).astype(np.float32)
    C = (2 * (A.astype(np.float64) @ B) + 5 * C0).astype(np.float32)
    return C, A, B, C0


def test_the_public_surface_is_declared_and_lazy():
    assert sorted(oraclenet.__all__) == ["Report", "agreed", "assert_gemm", "assert_grad",
                                         "assert_step", "check_gemm", "check_grad",
                                         "check_step"]
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        oraclenet.nothing  # noqa: B018
    code = ("import sys, oraclenet; heavy = {'numpy', 'numba', 'mpi4py', 'scipy'} & "
            "set(sys.modules); print(sorted(heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "[]"


def test_assert_gemm_passes_roundoff_and_fails_one_wrong_element(gemm_operands):
    C, A, B, C0 = gemm_operands
    assert oraclenet.assert_gemm(C, A, B, C0, alpha=2, beta=5).passed
    wrong = C.copy()
    wrong[30, 16] *= 1 + 1e-4  # the course's fixed threshold would let this pass
    with pytest.raises(AssertionError) as err:
        oraclenet.assert_gemm(wrong, A, B, C0, alpha=2, beta=5, msg="my kernel, run 3")
    text = str(err.value)
    assert text.startswith("my kernel, run 3\ngemm float32: FAIL (outside the worst-case"), text
    assert "\n  where: [30, 16]: actual " in text, text
    assert "\n  cause: isolated wrong elements: 1 of 561 elements wrong" in text, text


def test_assert_gemm_judges_the_declared_precision(gemm_operands):
    """A float64 result computed from float32 inputs: fine as float32, not as float64."""
    _, A, B, _ = gemm_operands
    A64, B64 = A.astype(np.float64), B.astype(np.float64)
    C = (A @ B).astype(np.float64)
    v = oraclenet.assert_gemm(C, A64, B64, precision="float32")
    assert v.passed and v.precision.declared == "float32" and v.precision_model == "float32"
    with pytest.raises(AssertionError) as err:  # the same C, declared by its dtype
        oraclenet.assert_gemm(C, A64, B64)
    for words in ("cause: precision downgrade", "behaves like float32", "declared float64"):
        assert words in str(err.value), str(err.value)


def test_assert_gemm_names_bad_arguments(gemm_operands):
    C, A, B, _ = gemm_operands
    with pytest.raises(ValueError, match=r"C0 \(C before the call\) is needed"):
        oraclenet.assert_gemm(C, A, B, beta=5)
    with pytest.raises(ValueError, match="do not chain"):
        oraclenet.assert_gemm(C, A, B.T)
    with pytest.raises(ValueError, match=r"C is \(17, 33\)"):
        oraclenet.assert_gemm(C.T, A, B)


def step(p, X, Y, lr, reg):
    """The oracle's SGD step, on a copy of p."""
    after = p.astype(np.float64)
    step_in_place(after, X, Y, reg, lr)
    return after


def problem(dtype):
    p, X, Y = gradcheck.check_problem(7, 5, 3)
    return p.astype(dtype).astype(np.float64), X.astype(dtype).astype(np.float64), Y


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_assert_grad_and_assert_step_pass_the_oracles_own_results(dtype):
    p, X, Y = problem(dtype)
    g = backward(p, X, Y, 1e-2).astype(dtype)
    oraclenet.assert_grad(tuple(g.blocks().values()), p, X, Y, reg=1e-2)
    after = step(p, X, Y, 0.5, 1e-2).astype(dtype)
    # a mapping by name, biases as vectors: accepted as SPEC's shapes
    oraclenet.assert_step(p, {k: v.ravel() if k[0] == "b" else v
                              for k, v in after.blocks().items()}, X, Y, lr=0.5, reg=1e-2)


def test_assert_grad_and_assert_step_name_the_failing_block():
    p, X, Y = problem(np.float64)
    g = backward(p, X, Y, 1e-2)
    g.b1[2, 0] *= 1 + 1e-10
    with pytest.raises(AssertionError, match=r"^db1: FAIL (?s:.*)where: \[2, 0\]"):
        oraclenet.assert_grad(g, p, X, Y, reg=1e-2)
    after = step(p, X, Y, 0.5, 0.0)
    with pytest.raises(AssertionError, match="W1 after a step: FAIL"):
        oraclenet.assert_step(p, after, X, Y, lr=0.5, reg=1e-2)  # the step forgot lambda
    with pytest.raises(ValueError, match="after has 3 arrays, not 4"):
        oraclenet.assert_step(p, list(after.blocks().values())[:3], X, Y, lr=0.5)


def test_the_scalars_by_position_still_work_for_a_release_with_a_warning():
    """alpha, beta, lr and reg are keyword-only; the spelling before, by position, gives the
    same verdicts with a DeprecationWarning, and a scalar given twice or one too many is a
    TypeError, never a silent choice."""
    p, X, Y = problem(np.float64)
    after = step(p, X, Y, lr=0.5, reg=1e-2)
    with pytest.warns(DeprecationWarning, match=r"pass lr=0.5, reg=0.01 by keyword"):
        old = oraclenet.assert_step(p, after, X, Y, 0.5, 1e-2)
    assert old == oraclenet.assert_step(p, after, X, Y, lr=0.5, reg=1e-2)
    with pytest.warns(DeprecationWarning), pytest.raises(AssertionError, match="FAIL"):
        oraclenet.assert_step(p, after, X, Y, 0.5, 0.0)  # by position, reg is still read
    A, B, C0 = (np.arange(6.0).reshape(2, 3), np.ones((3, 2)), np.ones((2, 2)))
    with pytest.warns(DeprecationWarning, match="pass alpha=2, beta=5 by keyword"):
        assert oraclenet.assert_gemm(2 * A @ B + 5 * C0, A, B, C0, 2, 5).passed
    with pytest.raises(TypeError, match="beta twice"):
        oraclenet.assert_gemm(A @ B, A, B, C0, 1, 0, beta=0)
    with pytest.raises(TypeError, match="takes 4 positional arguments and alpha, beta by"):
        oraclenet.assert_gemm(A @ B, A, B, C0, 1, 0, 0)
    with pytest.warns(DeprecationWarning, match="pass reg=0.01"):
        oraclenet.assert_grad(backward(p, X, Y, 1e-2), p, X, Y, 1e-2)


def test_the_assertions_hide_their_frames_from_pytest(tmp_path):
    (tmp_path / "test_hidden.py").write_text(textwrap.dedent("""
        import numpy as np
        import oraclenet

        def test_it():
            A = np.eye(3)
            oraclenet.assert_gemm(A + 1, A, A)
    """))
    out = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider",
                          str(tmp_path)], capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode == 1
    assert "oraclenet.assert_gemm(A + 1, A, A)" in out.stdout
    assert "AssertionError: gemm float64: FAIL" in out.stdout, out.stdout
    assert "assertions.py" not in out.stdout, out.stdout


def test_check_gemm_returns_a_report(tmp_path):
    def gemm(C, A, B, alpha, beta):
        C[...] = alpha * (A @ B) + (beta * C if beta else 0)

    def drops_k_tail(C, A, B, alpha, beta):
        K = max(1, A.shape[1] - 1)
        C[...] = alpha * (A[:, :K] @ B[:K]) + (beta * C if beta else 0)

    good = oraclenet.check_gemm(gemm, dtype="float32", timeout=None)
    n = len(battery_cases("quick", "inplace"))
    assert good.passed and f"PASS: {n} of {n} cases" in str(good)
    bad = oraclenet.check_gemm(drops_k_tail, timeout=60)
    assert not bad.passed and bad.failed[0].case.startswith("ragged")
    assert bad.summary().startswith(f"FAIL: {len(bad.failed)} of {n} cases")
    assert "heat map" in bad.write(tmp_path / "r").read_text()
    with pytest.raises(ValueError, match=r"func 'drops_k_tail': product calls it as f\(A, B\)"):
        oraclenet.check_gemm(drops_k_tail, convention="product")


def test_check_grad_and_check_step_from_the_library():
    def grad(W1, b1, W2, b2, X, Y, reg):
        p = network.Params(W1, b1, W2, b2)
        return tuple(backward(p, X, Y, reg).astype(W1.dtype).blocks().values())

    assert oraclenet.check_grad(grad, timeout=120).passed
    report = oraclenet.check_step(lambda W1, b1, W2, b2, X, Y, lr, reg: (W1, b1, W2, b2),
                                  dtype="float32", timeout=120)
    assert report.outcomes and all(any(v.check == "W1 after a step" and not v.passed
                                       for v in o.verdicts) for o in report.outcomes), report


# --- under MPI -------------------------------------------------------------------------------

AGREED = textwrap.dedent("""
    import sys
    import numpy as np
    from mpi4py import MPI
    import oraclenet

    comm = MPI.COMM_WORLD
    A = np.random.default_rng(comm.rank).standard_normal((9, 20))
    C = A @ A.T
    if str(comm.rank) in sys.argv[1].split(","):
        C[1, 2] *= 1 + 1e-9
    said = open(f"{sys.argv[2]}/rank{comm.rank}.txt", "w")
    try:
        with oraclenet.agreed(comm):
            oraclenet.assert_gemm(C, A, A.T)
    except AssertionError as err:
        paths = ",".join(f.path for f in err.findings)  # the failure records, as data
        said.write(f"raised: {paths}: {err}")
        sys.exit(1)
    said.write("passed")
""")


@pytest.mark.parametrize(("failing", "first"), [("none", None), ("2", 2), ("1,3", 1)])
def test_agreed_fails_every_rank_with_the_failing_ranks_message(tmp_path, failing, first):
    script = tmp_path / "agreed.py"
    script.write_text(AGREED)
    out = subprocess.run([str(BIN / "mpiexec"), "-n", "4", sys.executable, str(script), failing,
                          str(tmp_path)], capture_output=True, text=True, timeout=120)
    said = [(tmp_path / f"rank{r}.txt").read_text() for r in range(4)]
    if first is None:
        assert out.returncode == 0 and said == ["passed"] * 4, out
        return
    assert out.returncode != 0 and all(s.startswith("raised: ") for s in said), said
    assert len(set(said)) == 1, said  # every rank says the same
    paths, text = said[0].removeprefix("raised: ").split(": ", 1)
    assert paths == ",".join(f"rank {r}" for r in failing.split(",")), paths
    assert text.startswith(f"rank {first} ") and "gemm float64: FAIL" in text, text
    assert ("ranks 1, 3 of 4 failed" in text) == (failing == "1,3"), text


# --- the pytest plugin --------------------------------------------------------------------------

STUDENT = textwrap.dedent("""
    def gemm(C, A, B, alpha, beta):
        C[...] = alpha * (A @ B) + (beta * C if beta else 0)

    def reads_nan(C, A, B, alpha, beta):
        C[...] = alpha * (A @ B) + beta * C

    def backprop(W1, b1, W2, b2, X, Y, reg):
        raise NotImplementedError("the student's backprop is not written yet")

    def step_without_l2(W1, b1, W2, b2, X, Y, lr, reg):  # a tutorial's step: no L2 term
        import numpy as np
        N = X.shape[1]
        a1 = 1 / (1 + np.exp(-(W1 @ X + b1)))
        z2 = W2 @ a1 + b2
        yhat = np.exp(z2 - z2.max(axis=0))
        yhat /= yhat.sum(axis=0)
        dz2 = (yhat - Y) / N
        dz1 = (W2.T @ dz2) * a1 * (1 - a1)
        return (W1 - lr * dz1 @ X.T, b1 - lr * dz1.sum(axis=1, keepdims=True),
                W2 - lr * dz2 @ a1.T, b2 - lr * dz2.sum(axis=1, keepdims=True))
""")


def pytest_in(where: Path, *argv):
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *argv],
                          capture_output=True, text=True, cwd=where, timeout=600)


@pytest.fixture
def project(tmp_path) -> Path:
    (tmp_path / "student.py").write_text(STUDENT)
    return tmp_path


def test_the_plugin_adds_one_item_per_case_and_nothing_without_its_options(project):
    out = pytest_in(project, "-v", "--oraclenet-gemm", "student.py:gemm",
                    "--oraclenet-convention", "inplace-trans")
    assert out.returncode == 4 and "inplace-trans calls it as" in out.stderr, out.stderr
    out = pytest_in(project, "-v", "--oraclenet-gemm", "student.py:gemm")
    n = len(battery_cases("quick", "inplace"))
    assert out.returncode == 0 and out.stdout.count("PASSED") == n, out.stdout
    out = pytest_in(project, "-v", "--oraclenet-gemm", "student.py:gemm", "-m",
                    "not oraclenet")
    assert f"{n} deselected" in out.stdout, out.stdout
    assert "oraclenet::" not in pytest_in(project, "--collect-only", "-q").stdout


def test_a_plugin_failure_reads_like_the_verdict(project):
    out = pytest_in(project, "--oraclenet-gemm", "student.py:reads_nan", "-k", "NaN")
    assert out.returncode == 1, out.stdout
    assert "NaN in C, alpha 2 beta 0 (33x17x15): FAIL\ngemm float64: FAIL" in out.stdout, \
        out.stdout
    assert "Traceback" not in out.stdout
    grad = pytest_in(project, "--oraclenet-grad", "student.py:backprop", "--oraclenet-timeout",
                     "60")
    # One report per case, counted above pytest's short summary: on CI (the CI variable set)
    # pytest prints each message there in full as well.
    reports = grad.stdout.split("short test summary info")[0]
    assert grad.returncode == 1 and reports.count(
        "NotImplementedError: the student's backprop is not written yet") == 4, grad.stdout


def test_the_plugin_calls_a_step_with_its_reg_and_lr_and_refuses_unread_options(project):
    base = ("--oraclenet-step", "student.py:step_without_l2", "--oraclenet-lr", "0.1")
    right = pytest_in(project, *base, "--oraclenet-reg", "0")
    assert right.returncode == 0 and "3 passed" in right.stdout, right.stdout
    wrong = pytest_in(project, *base)  # the course's lambda, 0.01: the L2 term is missing
    assert wrong.returncode == 1 and "3 failed" in wrong.stdout, wrong.stdout
    unread = pytest_in(project, "--oraclenet-grad", "student.py:backprop", "--oraclenet-lr",
                       "0.1")
    assert unread.returncode == 4 and "--oraclenet-lr: read only with --oraclenet-step" in \
        unread.stderr, unread.stderr
    unread = pytest_in(project, "--oraclenet-step", "student.py:step_without_l2",
                       "--oraclenet-abi", "course")
    assert unread.returncode == 4 and "--oraclenet-abi: read only with --oraclenet-gemm" in \
        unread.stderr, unread.stderr
