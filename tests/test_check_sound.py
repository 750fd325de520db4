"""The front door is sound on code written in other ways than ours (issue: "sound on anyone's
code"): an implementation gets its own copies of the inputs and cannot move the oracle, one
that modifies what it must only read fails naming the argument, a result coarser than the
declared dtype fails named, and a module that exits, crashes or hangs while importing ends
the check with exit code 2 and one line, never a pass and never a silent exit."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from oraclenet import check_gemm, check_grad, check_step

ORACLENET = Path(sys.executable).parent / "oraclenet"


def oraclenet(*argv, timeout=300):
    return subprocess.run([str(ORACLENET), *map(str, argv)], capture_output=True, text=True,
                          timeout=timeout)


def _grad(W1, b1, W2, b2, X, Y, reg):
    """A plain numpy backprop, written as tutorials write it."""
    a1 = 1 / (1 + np.exp(-(W1 @ X + b1)))
    z2 = W2 @ a1 + b2
    e = np.exp(z2 - z2.max(axis=0))
    dz2 = (e / e.sum(axis=0) - Y) / X.shape[1]
    dz1 = (W2.T @ dz2) * a1 * (1 - a1)
    return (dz1 @ X.T + reg * W1, dz1.sum(axis=1, keepdims=True), dz2 @ a1.T + reg * W2,
            dz2.sum(axis=1, keepdims=True))


def step_in_place(W1, b1, W2, b2, X, Y, lr, reg):
    """The usual in-place SGD: the parameters it was given, updated and returned."""
    dW1, db1, dW2, db2 = _grad(W1, b1, W2, b2, X, Y, reg)
    W1 -= lr * dW1
    b1 -= lr * db1
    W2 -= lr * dW2
    b2 -= lr * db2
    return W1, b1, W2, b2


def grad_scribbles_on_X(W1, b1, W2, b2, X, Y, reg):
    """A correct gradient, then X reused as scratch space."""
    found = _grad(W1, b1, W2, b2, X, Y, reg)
    X[:] = -1
    return found


def grad_scribbles_on_W2(W1, b1, W2, b2, X, Y, reg):
    found = _grad(W1, b1, W2, b2, X, Y, reg)
    W2 *= 2
    return found


def step_scribbles_on_Y(W1, b1, W2, b2, X, Y, lr, reg):
    found = step_in_place(W1, b1, W2, b2, X, Y, lr, reg)
    Y -= 1
    return found


def grad_in_float32(W1, b1, W2, b2, X, Y, reg):
    return tuple(g.astype(np.float32) for g in _grad(W1, b1, W2, b2, X, Y, reg))


def step_in_float32(W1, b1, W2, b2, X, Y, lr, reg):
    return tuple(p.astype(np.float32) for p in step_in_place(W1, b1, W2, b2, X, Y, lr, reg))


def gemm_then_vandal(C, A, B, alpha, beta):
    """C right, then A zeroed and B filled with NaN."""
    C[:] = alpha * (A @ B) + beta * C
    A[:] = 0
    B[:] = np.nan


def product_in_float32(A, B):
    return (A.astype(np.float32) @ B.astype(np.float32))


def failures(report) -> str:
    return "\n".join(str(v) for o in report.failed for v in o.verdicts if not v.passed)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_a_step_written_in_place_passes(dtype):
    report = check_step(step_in_place, dtype=dtype, timeout=None)
    assert report.passed, report


@pytest.mark.parametrize("func, argument, first", [
    (grad_scribbles_on_X, "X", "(0, 0)"),
    (grad_scribbles_on_W2, "W2", "(0, 0)"),
])
def test_a_backprop_that_modifies_its_inputs_fails_naming_them(func, argument, first):
    report = check_grad(func, dtype="float64", timeout=None)
    assert not report.passed and all(not o.passed for o in report.outcomes), report
    text = failures(report)
    assert f"the implementation modified {argument}, which it must only read" in text, text
    assert f"the first at {first}" in text, text


def test_a_step_may_update_its_parameters_but_not_the_batch():
    report = check_step(step_scribbles_on_Y, dtype="float32", timeout=None)
    text = failures(report)
    assert not report.passed and "modified Y, which it must only read" in text, text
    assert "modified W1" not in text


@pytest.mark.parametrize("layout", ["row", "col"])
def test_a_gemm_that_destroys_its_operands_fails_naming_both(layout):
    """In either layout: column-major operands once raised a numpy error inside the check
    (a byte view of a Fortran-ordered array), reported as the implementation's."""
    report = check_gemm(gemm_then_vandal, layout=layout, timeout=None)
    assert all(not o.passed for o in report.outcomes), report
    text = failures(report)
    assert "modified A, which it must only read" in text and "modified B" in text, text
    # C itself was right: the operands alone fail it (the oracle used its own copies)
    ragged = report.outcomes[1].verdicts
    assert [v.check for v in ragged if not v.passed] == ["A unchanged", "B unchanged"], ragged


@pytest.mark.parametrize("run, declared", [
    (lambda: check_gemm(product_in_float32, convention="product", timeout=None), "float64"),
    (lambda: check_grad(grad_in_float32, dtype="float64", sizes="quick", timeout=None),
     "float64"),
    (lambda: check_step(step_in_float32, dtype="float64", timeout=None), "float64"),
])
def test_a_result_coarser_than_declared_fails_named(run, declared):
    report = run()
    judged = [o for o in report.outcomes if o.verdicts]
    assert judged and all(not o.passed for o in judged), report
    assert f"returned float32; declared {declared}" in failures(report)


def test_the_same_float32_results_pass_where_float32_is_declared():
    assert check_gemm(product_in_float32, convention="product", dtype="float32",
                      timeout=None).passed
    assert check_step(step_in_float32, dtype="float32", timeout=None).passed


# --- the user's module runs in a child, at import as at call ----------------------------

MISBEHAVING = {
    "exits 0": ("import sys\nsys.exit(0)\n", "called sys.exit(0)"),
    "exits 3": ("import sys\nsys.exit(3)\n", "called sys.exit(3)"),
    "segfaults": ("import ctypes\nctypes.string_at(0)\n",
                  "killed its process (signal 11, SIGSEGV)"),
    "hangs": ("import time\ntime.sleep(600)\n", "did not finish within 3 s"),
    "raises": ("raise KeyboardInterrupt\n", "raised KeyboardInterrupt"),
    "os._exit": ("import os\nos._exit(0)\n", "ended its process (exit code 0)"),
}
GOOD_GEMM = ("\ndef gemm(C, A, B, alpha, beta):\n"
             "    C[:] = alpha * (A @ B) + (beta * C if beta != 0 else 0)\n")


@pytest.mark.parametrize("how", MISBEHAVING)
def test_a_module_that_misbehaves_at_import_is_one_line_and_exit_2(tmp_path, how):
    code, said = MISBEHAVING[how]
    module = tmp_path / "mine.py"
    module.write_text(code + GOOD_GEMM)
    done = oraclenet("check", "gemm", "--impl", f"{module}:gemm", "--timeout", 3)
    assert done.returncode == 2, (done.returncode, done.stdout, done.stderr)
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr, done.stderr
    assert f"importing {module} {said}" in done.stderr, done.stderr
    assert done.stdout == ""


CALL_TIME = textwrap.dedent('''
    import os, sys

    def interrupts(C, A, B, alpha, beta):
        print("about to be interrupted", file=sys.stderr)
        raise KeyboardInterrupt

    def exits(C, A, B, alpha, beta):
        sys.exit(0)

    def closes_its_descriptors(C, A, B, alpha, beta):
        os.closerange(0, 4096)
        C[:] = alpha * (A @ B) + beta * C
''')


@pytest.mark.parametrize("func, said", [
    ("interrupts", "the implementation raised KeyboardInterrupt"),
    ("exits", "the implementation called sys.exit(0)"),
    ("closes_its_descriptors", "the implementation ended its process"),
])
def test_what_the_implementation_does_at_call_time_is_its_cases_outcome(tmp_path, func, said):
    module = tmp_path / "mine.py"
    module.write_text(CALL_TIME)
    done = oraclenet("check", "gemm", "--impl", f"{module}:{func}", "--timeout", 20)
    assert done.returncode == 1, (done.returncode, done.stdout, done.stderr)
    assert done.stderr == "", done.stderr  # no traceback, no multiprocessing line
    assert said in done.stdout and "Traceback" not in done.stdout, done.stdout
    assert "about to be interrupted" not in done.stdout


# --- no verdict fails open ------------------------------------------------------------------

def test_a_bound_that_overflows_cannot_judge_and_exits_2(tmp_path):
    """|A||B| overflows while A B does not: a bound of inf once passed C = 12345."""
    for name, m in (("A", [[1e308, 1e308]]), ("B", [[1.0], [-1.0]]), ("C0", [[0.0]]),
                    ("C", [[12345.0]])):
        np.save(tmp_path / f"{name}.npy", np.array(m))
    files = [tmp_path / f"{n}.npy" for n in ("A", "B", "C0", "C")]
    done = oraclenet("check", "gemm", "--files", *files)
    assert done.returncode == 2 and "cannot judge gemm float64: the rigorous bound is inf" \
        in done.stderr, (done.stdout, done.stderr)
    assert done.stderr.count("\n") == 1


def test_a_step_at_an_overflowing_learning_rate_cannot_judge(tmp_path):
    from oraclenet.common.params import init_params
    from oraclenet.reference import network

    p = init_params(3, 1)
    X = np.random.default_rng(0).random((784, 5))
    Y = np.eye(10)[:, [1, 2, 3, 4, 5]]
    np.savez(tmp_path / "before.npz", **p.blocks())
    network.step(p, X, Y, 0.0, 0.5)
    np.savez(tmp_path / "after.npz", **p.blocks())
    np.savez(tmp_path / "batch.npz", X=X, Y=Y)
    argv = ["check", "step", "--before", tmp_path / "before.npz", "--after",
            tmp_path / "after.npz", "--batch", tmp_path / "batch.npz"]
    assert oraclenet(*argv, "--lr", 0.5).returncode == 0
    wrong = oraclenet(*argv, "--lr", 1e308)  # float64 holds that step: the files are not it
    assert wrong.returncode == 1, (wrong.stdout, wrong.stderr)
    done = oraclenet(*argv, "--lr", 1e308, "--dtype", "float32")  # float32 cannot hold it
    assert done.returncode == 2 and "cannot judge" in done.stderr and "beyond float32's " \
        "range" in done.stderr, (done.stdout, done.stderr)


@pytest.mark.parametrize("flag, value", [("--alpha", "nan"), ("--beta", "inf"),
                                         ("--alpha", "-inf")])
def test_non_finite_alpha_and_beta_are_refused(tmp_path, flag, value):
    files = [tmp_path / f"{n}.npy" for n in ("A", "B", "C0", "C")]
    for path in files:
        np.save(path, np.ones((2, 2)))
    done = oraclenet("check", "gemm", "--files", *files, f"{flag}={value}")
    assert done.returncode == 2 and f"argument {flag}: must be a finite number" in done.stderr


# --- outputs: checked before the work, written only inside their folder ---------------------

OFF_BY_ONE = "def gemm(C, A, B, alpha, beta):\n    C[:] = alpha * (A @ B) + beta * C\n" \
             "    C[0, 0] += 1\n"
HANGS = "import time\n\ndef gemm(C, A, B, alpha, beta):\n    time.sleep(600)\n"


def test_a_report_file_linked_out_of_its_folder_is_refused_before_the_work(tmp_path):
    outside = tmp_path / "outside.txt"
    outside.write_text("keep me")
    report = tmp_path / "report"
    report.mkdir()
    (report / "report.md").symlink_to(outside)
    module = tmp_path / "mine.py"
    module.write_text(HANGS)
    done = oraclenet("check", "gemm", "--impl", f"{module}:gemm", "--report", report,
                     timeout=60)
    assert done.returncode == 2 and "a symbolic link to" in done.stderr and \
        "outside" in done.stderr, done.stderr
    assert outside.read_text() == "keep me" and (report / "report.md").is_symlink()


@pytest.mark.parametrize("name", ["report.json", "heatmap-003-old.png"])
def test_a_fifo_among_a_reports_files_is_refused_before_the_work(tmp_path, name):
    report = tmp_path / "report"
    report.mkdir()
    os.mkfifo(report / name)
    module = tmp_path / "mine.py"
    module.write_text(HANGS)
    done = oraclenet("check", "gemm", "--impl", f"{module}:gemm", "--report", report,
                     timeout=60)  # the hanging cases would take 300 s: refused before them
    assert done.returncode == 2 and f"{name}: " in done.stderr and "FIFO" in done.stderr
    assert sorted(p.name for p in report.iterdir()) == [name]


def test_a_reused_report_folder_holds_only_this_runs_files(tmp_path):
    report = tmp_path / "report"
    report.mkdir()
    (report / "heatmap-042-stale.png").write_bytes(b"an earlier run's")
    (report / "notes.txt").write_text("the user's own")
    module = tmp_path / "mine.py"
    module.write_text(OFF_BY_ONE)
    done = oraclenet("check", "gemm", "--impl", f"{module}:gemm", "--report", report)
    assert done.returncode == 1, done.stderr
    found = json.loads((report / "report.json").read_text())
    listed = found["files"]
    assert sorted(p.name for p in report.iterdir()) == sorted([*listed, "notes.txt"])
    maps = [c["heat_map"] for c in found["cases"] if c["status"] == "FAIL" and c["heat_map"]]
    assert "heatmap-042-stale.png" not in listed and maps
    assert sorted(listed) == sorted(["report.md", "report.json", *maps])


def test_regress_refuses_a_report_that_is_not_a_folder_before_the_work():
    baseline = Path(__file__).resolve().parent.parent / "baselines" / "quick"
    done = oraclenet("regress", "check", "--baseline", baseline, "--quick",
                     "--report", "/dev/null", timeout=60)
    assert done.returncode == 2 and "/dev/null: exists and is a character device, not a " \
        "directory" in done.stderr, done.stderr


# --- found by a new user's trial ---------------------------------------------------------------

def netlib_gemm(C, A, B, alpha, beta):
    """The reference BLAS's DGEMM order: C scaled by beta first, each product added into it."""
    for j in range(C.shape[1]):
        C[:, j] = 0 if beta == 0 else beta * C[:, j]
        for k in range(A.shape[1]):
            C[:, j] += (alpha * B[k, j]) * A[:, k]


def float32_in_float64(A, B):
    """A tutorial's float64 zeros filled with a float32 product."""
    C = np.zeros((A.shape[0], B.shape[1]))
    C[:, :] = A @ B
    return C


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_the_reference_blas_order_passes(dtype):
    """Its partial sums carry beta C0's size: the precision test once called it a downgrade."""
    report = check_gemm(netlib_gemm, dtype=dtype, timeout=None)
    assert report.passed, report


def test_a_float32_result_in_a_float64_array_is_judged_as_declared():
    """At K = 1 its float64 yardsticks are exact: judged in float64 it read 1e282 times too
    coarse."""
    report = check_gemm(float32_in_float64, convention="product", dtype="float32", timeout=None)
    assert report.passed, report


def test_nan_in_c_with_beta_zero_is_judged_and_a_nan_input_named():
    from oraclenet import assert_gemm
    from oraclenet.judge.verdict import CannotJudge

    rng = np.random.default_rng(4)
    A, B = rng.standard_normal((5, 3)), rng.standard_normal((3, 4))
    assert assert_gemm(2 * (A @ B), A, B, np.full((5, 4), np.nan), alpha=2, beta=0).passed
    A[1, 2] = np.nan
    with pytest.raises(CannotJudge, match=r"A holds nan at \(1, 2\)"):
        assert_gemm(2 * (A @ B), A, B, alpha=2)


def test_sigterm_ends_a_check_and_its_children_at_once(tmp_path):
    module = tmp_path / "mine.py"
    module.write_text(HANGS)
    began = time.monotonic()
    check = subprocess.Popen([str(ORACLENET), "check", "gemm", "--impl", f"{module}:gemm"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(3)  # importing, then the first case hangs in time.sleep(600)
    check.send_signal(signal.SIGTERM)
    _, err = check.communicate(timeout=30)
    assert check.returncode == 143 and time.monotonic() - began < 20, err
    assert "Traceback" not in err
    left = subprocess.run(["pgrep", "-f", str(module)], capture_output=True, text=True)
    assert left.stdout == "", left.stdout


def test_a_module_beside_the_user_is_found_by_its_name(tmp_path):
    (tmp_path / "mygemm.py").write_text(GOOD_GEMM)
    done = subprocess.run([str(ORACLENET), "check", "gemm", "--impl", "mygemm:gemm"],
                          capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr


def test_device_arrays_without_a_device_are_one_line(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"}
    probe = subprocess.run([sys.executable, "-c", "from oraclenet.gpu.options import "
                            "device_error; print(device_error() is None)"],
                           capture_output=True, text=True, env=env, timeout=120)
    if probe.stdout.strip() == "True":
        pytest.skip("a CUDA GPU is here")
    module = tmp_path / "mine.py"
    module.write_text(OFF_BY_ONE)
    done = subprocess.run([str(ORACLENET), "check", "gemm", "--impl", f"{module}:gemm",
                           "--arrays", "numba"], capture_output=True, text=True, env=env,
                          timeout=300)
    assert done.returncode == 2 and "--arrays numba: no CUDA GPU here; set " \
        "NUMBA_ENABLE_CUDASIM=1" in done.stderr, done.stderr


def test_a_users_own_figure_in_the_report_folder_is_kept(tmp_path):
    report = tmp_path / "report"
    report.mkdir()
    (report / "heatmap-my-figure.png").write_bytes(b"mine")
    module = tmp_path / "mine.py"
    module.write_text(OFF_BY_ONE)
    oraclenet("check", "gemm", "--impl", f"{module}:gemm", "--report", report)
    assert (report / "heatmap-my-figure.png").read_bytes() == b"mine"


def test_parameters_written_big_endian_are_read_and_text_is_named(tmp_path):
    from oraclenet.common.params import init_params, read_params

    p = init_params(3, 0)
    np.savez(tmp_path / "big.npz", **{k: v.astype(">f8") for k, v in p.blocks().items()})
    read = read_params(tmp_path / "big.npz")
    assert read.W1.dtype == np.float64 and np.array_equal(read.W1, p.W1)
    (tmp_path / "text.npz").write_text("W1 = 1 2 3\n")
    with pytest.raises(ValueError, match=r"text.npz: neither an .npz nor a .mat file"):
        read_params(tmp_path / "text.npz")
