"""`oraclenet check grad`, `check step` and `check run`, through the installed command: a
correct outside backprop, step and training run pass; each planted bug fails with its block
(and for a run its step) named; our own trainers' --dump-dir runs pass `check run`, the MPI
trainers at P = 1..4 under the real mpiexec; bad input is one line, exit 2."""

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import scipy.io

from oraclenet.common.params import read_params

BIN = Path(sys.executable).parent
ORACLENET = BIN / "oraclenet"

# An outside backprop and step, dtype-generic numpy as SPEC section 1 writes them, and
# test-only twins with one planted bug each.
IMPLEMENTATIONS = textwrap.dedent('''
    import numpy as np

    def _forward(W1, b1, W2, b2, X):
        a1 = 1 / (1 + np.exp(-(W1 @ X + b1)))
        z2 = W2 @ a1 + b2
        e = np.exp(z2 - z2.max(axis=0))
        return a1, e / e.sum(axis=0)

    def grad(W1, b1, W2, b2, X, Y, reg, bug=None):
        a1, yhat = _forward(W1, b1, W2, b2, X)
        dz2 = (yhat - Y) / X.shape[1]
        dW2 = dz2 @ a1.T + reg * W2
        db2 = dz2.sum(axis=1, keepdims=True) * (X.shape[1] if bug == "db2 not averaged" else 1)
        da1 = W2.T @ dz2
        dz1 = da1 * (a1 if bug == "sigmoid derivative" else a1 * (1 - a1))
        dW1 = dz1 @ X.T + (0 if bug == "no L2 on W1" else reg) * W1
        db1 = dz1.sum(axis=1, keepdims=True)
        return dW1, db1, dW2, db2

    def db2_not_averaged(W1, b1, W2, b2, X, Y, reg):
        return grad(W1, b1, W2, b2, X, Y, reg, "db2 not averaged")

    def sigmoid_derivative(W1, b1, W2, b2, X, Y, reg):
        return grad(W1, b1, W2, b2, X, Y, reg, "sigmoid derivative")

    def no_l2_on_W1(W1, b1, W2, b2, X, Y, reg):
        return grad(W1, b1, W2, b2, X, Y, reg, "no L2 on W1")

    def float32_only(W1, b1, W2, b2, X, Y, reg):
        return tuple(g.astype(np.float32) for g in grad(W1, b1, W2, b2, X, Y, reg))

    def step(W1, b1, W2, b2, X, Y, lr, reg):
        g = grad(W1, b1, W2, b2, X, Y, reg)
        return tuple(p - lr * d for p, d in zip((W1, b1, W2, b2), g))

    def step_skips_b1(W1, b1, W2, b2, X, Y, lr, reg):
        W1, _, W2, b2 = step(W1, b1, W2, b2, X, Y, lr, reg)
        return W1, b1, W2, b2

    def step_returns_three(W1, b1, W2, b2, X, Y, lr, reg):
        return step(W1, b1, W2, b2, X, Y, lr, reg)[:3]
''')


def oraclenet(*argv, timeout=600, cwd=None):
    return subprocess.run([str(ORACLENET), *map(str, argv)], capture_output=True, text=True,
                          timeout=timeout, cwd=cwd)


@pytest.fixture(scope="module")
def impl(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("impl") / "net.py"
    path.write_text(IMPLEMENTATIONS)
    return path


def failing_lines(stdout: str) -> list[str]:
    return [line for line in stdout.splitlines() if "  FAIL  " in line or "  error  " in line]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_a_correct_backprop_and_step_pass(impl, dtype):
    grad = oraclenet("check", "grad", "--impl", f"{impl}:grad", "--dtype", dtype)
    assert grad.returncode == 0 and "PASS: 4 of 4 cases" in grad.stdout, grad.stdout
    step = oraclenet("check", "step", "--impl", f"{impl}:step", "--dtype", dtype)
    assert step.returncode == 0 and "PASS: 3 of 3 cases" in step.stdout, step.stdout


@pytest.mark.parametrize(("bug", "block"), [
    ("db2_not_averaged", "db2"), ("sigmoid_derivative", "dW1"), ("no_l2_on_W1", "dW1")])
def test_each_planted_backprop_bug_is_named_by_its_block(impl, bug, block):
    run = oraclenet("check", "grad", "--impl", f"{impl}:{bug}", "--report", impl.parent / bug)
    assert run.returncode == 1, run.stdout + run.stderr
    failed = failing_lines(run.stdout)
    assert any(line.startswith("bounds") and f"  {block} [" in line for line in failed), \
        run.stdout
    central = [line for line in failed if line.startswith("central differences")]
    assert central and f"blocks failing: {block}" in central[0], run.stdout
    report = json.loads((impl.parent / bug / "report.json").read_text())
    assert report["passed"] is False
    # the one failure record: its path names the case and the block, its text the verdict's
    at = [f for f in report["findings"] if f["path"].endswith(f"/{block}") and not f["ok"]]
    assert at and all(f["word"] == "FAIL" and f["text"].startswith(f"{block}: FAIL")
                      for f in at), report["findings"]


def test_central_differences_need_a_dtype_generic_backprop(impl):
    run = oraclenet("check", "grad", "--impl", f"{impl}:float32_only", "--dtype", "float32")
    assert run.returncode == 1
    assert "this check needs a dtype-generic f" in run.stdout, run.stdout


def test_a_step_that_skips_a_block_fails_there(impl):
    run = oraclenet("check", "step", "--impl", f"{impl}:step_skips_b1")
    assert run.returncode == 1
    assert all("  b1 after a step [" in line for line in failing_lines(run.stdout)), run.stdout
    short = oraclenet("check", "step", "--impl", f"{impl}:step_returns_three")
    assert short.returncode == 1 and "has 3 arrays, not 4" in short.stdout, short.stdout


def test_the_wrong_signature_is_a_usage_error(impl):
    run = oraclenet("check", "grad", "--impl", f"{impl}:step")
    assert run.returncode == 2 and "check grad calls it as f(W1, b1, W2, b2, X, Y, reg)" \
        in run.stderr and len(run.stderr.strip().splitlines()) == 1, run.stderr


# --- a step from files ---------------------------------------------------------------------

def one_step(tmp_path: Path, fmt: str, bug: bool) -> list[str]:
    """Parameters before and after a float32 step of a dump dir's run, and its batch."""
    run = tmp_path / "run"
    if not run.exists():
        assert oraclenet("train", "-n", "8", "-b", "40", "-e", "1", "--quiet", "--dump-dir",
                         run).returncode == 0
    before, after = read_params(run / "params-0000.npz"), read_params(run / "params-0001.npz")
    after = after.astype(np.float32)
    if bug:
        after.W2[3, 5] += 1e-3
    data = np.load(run / "data.npz")
    batch = {"X": data["X"][:, :40], "labels": data["labels"][:40]}
    paths = []
    for name, arrays in (("before", before.blocks()), ("after", after.blocks()),
                         ("batch", batch)):
        path = tmp_path / f"{name}{int(bug)}.{fmt}"
        if fmt == "mat":
            scipy.io.savemat(path, dict(arrays))
        else:
            np.savez(path, **arrays)
        paths.append(str(path))
    return paths


@pytest.mark.parametrize("fmt", ["npz", "mat"])
def test_a_step_from_files(tmp_path, fmt):
    for bug in (False, True):
        before, after, batch = one_step(tmp_path, fmt, bug)
        settings = json.loads((tmp_path / "run" / "run.json").read_text())
        run = oraclenet("check", "step", "--before", before, "--after", after, "--batch", batch,
                        "--lr", settings["lr"], "--reg", settings["reg"])
        assert run.returncode == int(bug), run.stdout + run.stderr
        if bug:
            assert "W2 after a step [3, 5]" in run.stdout, run.stdout



def test_bad_step_files_are_one_line(tmp_path):
    before, after, batch = one_step(tmp_path, "npz", False)
    np.savez(tmp_path / "nolabels.npz", X=np.zeros((784, 3)))
    np.savez(tmp_path / "wide.npz", X=np.zeros((783, 3)), labels=np.zeros(3))
    for argv, message in (
            (["--after", after, "--batch", batch, "--lr", "0.5"], "missing --before"),
            (["--before", before, "--after", after, "--batch", tmp_path / "nolabels.npz",
              "--lr", "0.5"], "no array named 'labels'"),
            (["--before", before, "--after", after, "--batch", tmp_path / "wide.npz",
              "--lr", "0.5"], "X is 783 x 3, expected 784 x N")):
        run = oraclenet("check", "step", *argv)
        assert run.returncode == 2 and message in run.stderr, run.stderr
        assert len(run.stderr.strip().splitlines()) == 1, run.stderr


# --- a whole run ---------------------------------------------------------------------------

RUN = ("-n", "16", "-b", "500", "-e", "1")  # 9 steps on the embedded set


@pytest.fixture(scope="module")
def oracle_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("runs") / "oracle"
    done = oraclenet("train", *RUN, "--quiet", "--dump-dir", out)
    assert done.returncode == 0, done.stderr
    return out


def test_our_own_run_passes_check_run(oracle_run, tmp_path):
    run = oraclenet("check", "run", oracle_run, "--report", tmp_path / "r")
    assert run.returncode == 0 and "PASS: 9 of 9 cases" in run.stdout, run.stdout
    assert (tmp_path / "r" / "steps.png").stat().st_size > 0


def test_a_fifo_at_the_runs_figure_is_refused_before_the_work(oracle_run, tmp_path):
    report = tmp_path / "r"
    report.mkdir()
    os.mkfifo(report / "steps.png")
    run = oraclenet("check", "run", oracle_run, "--report", report)
    assert run.returncode == 2 and "steps.png: exists and is a FIFO" in run.stderr
    assert sorted(p.name for p in report.iterdir()) == ["steps.png"]


def test_a_run_written_as_mat_files_passes(oracle_run, tmp_path):
    """The course's later starter code kept parameters in .mat files: a run may too."""
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    shutil.copy(oracle_run / "run.json", run_dir)
    data = np.load(oracle_run / "data.npz")
    scipy.io.savemat(run_dir / "data.mat", {"X": data["X"], "labels": data["labels"]})
    settings = json.loads((run_dir / "run.json").read_text())
    (run_dir / "run.json").write_text(json.dumps({**settings, "data": "data.mat"}))
    for path in sorted(oracle_run.glob("params-*.npz")):
        scipy.io.savemat(run_dir / f"{path.stem}.mat", dict(np.load(path)))
    run = oraclenet("check", "run", run_dir)
    assert run.returncode == 0 and "PASS: 9 of 9 cases" in run.stdout, run.stdout + run.stderr


@pytest.mark.parametrize(("block", "index"), [("W1", (5, 300)), ("b2", (7, 0))])
def test_a_run_with_a_bug_at_step_3_is_caught_there(oracle_run, tmp_path, block, index):
    """One element of step 3's result moved by one part in 10^9, far below what the
    course's fixed 1e-4 threshold sees: step 3 is named first, with its block and index.
    Step 4 fails too (the recorded step 4 began from the unchanged parameters); the later
    steps, each judged from the parameters the run reached, pass."""
    run_dir = tmp_path / "run"
    shutil.copytree(oracle_run, run_dir)
    p = dict(np.load(run_dir / "params-0003.npz"))
    p[block][index] *= 1 + 1e-9
    np.savez(run_dir / "params-0003.npz", **p)
    run = oraclenet("check", "run", run_dir)
    assert run.returncode == 1
    first = run.stdout[run.stdout.index("FAIL: "):]
    assert first.startswith("FAIL: 2 of 9 cases; first: step 3 (epoch 1, batch 3)"), first
    assert f"{block} after a step: FAIL" in first and f"where: {list(index)}" in first, first
    assert "cause: isolated wrong elements: 1 element wrong" in first, first
    failed = [line.split()[1] for line in failing_lines(run.stdout)]
    assert failed == ["3", "4"], run.stdout


@pytest.mark.parametrize("ranks", [1, 2, 3, 4])
@pytest.mark.parametrize("strategy", ["data", "model"])
def test_the_mpi_trainers_dumps_pass_check_run(tmp_path, strategy, ranks):
    out = tmp_path / "dump"
    done = subprocess.run([str(BIN / "mpiexec"), "-n", str(ranks), str(ORACLENET), "mpi",
                           "train", "--strategy", strategy, *RUN, "--dump-dir", str(out)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    run = oraclenet("check", "run", out)
    assert run.returncode == 0 and "PASS: 9 of 9 cases" in run.stdout, run.stdout


def _setting(run_dir: Path, key: str, value) -> None:
    settings = json.loads((run_dir / "run.json").read_text())
    (run_dir / "run.json").write_text(json.dumps({**settings, key: value}))


@pytest.mark.parametrize(("damage", "message"), [
    (lambda d: (d / "params-0004.npz").unlink(), "parameter files for steps [4] are missing"),
    (lambda d: (d / "run.json").write_text("{}"), "missing data, batch, lr, reg, dtype"),
    (lambda d: (d / "run.json").write_text('{"data": "data.npz", "batch": 500, "lr": 0.5, '
                                           '"reg": 0, "dtype": "float16"}'),
     "dtype must be one of 'float32', 'float64', got 'float16'"),
    (lambda d: (d / "params-0002.npz").write_bytes(b"PK"), "params-0002.npz"),
    # JSON's Infinity and a string where a number belongs: named, never judged or a traceback
    (lambda d: _setting(d, "lr", float("inf")), "lr must be a finite number > 0, got inf"),
    (lambda d: _setting(d, "reg", float("inf")), "reg must be a finite number >= 0, got inf"),
    (lambda d: _setting(d, "batch", float("inf")), "batch must be an integer >= 1, got inf"),
    (lambda d: _setting(d, "val_fraction", "abc"), "val_fraction must be a finite number > 0 "
                                                   "and < 1, got 'abc'"),
    (lambda d: _setting(d, "hidden", 5), "H = 16, but"),
    (lambda d: scipy.io.savemat(d / "params-0002.mat", dict(np.load(d / "params-0002.npz"))),
     "two parameter files for step 2, params-0002.mat and params-0002.npz"),
])
def test_a_damaged_run_directory_is_one_line(oracle_run, tmp_path, damage, message):
    run_dir = tmp_path / "run"
    shutil.copytree(oracle_run, run_dir)
    damage(run_dir)
    run = oraclenet("check", "run", run_dir)
    assert run.returncode == 2 and message in run.stderr, run.stdout + run.stderr
    assert "Traceback" not in run.stderr and len(run.stderr.strip().splitlines()) == 1


def test_parameters_with_samples_as_rows_are_named_as_such(tmp_path):
    """A step written for samples as rows (x W, W stored inputs x outputs) hands back its
    weights transposed; so does a file of them: the message says so."""
    module = tmp_path / "rows.py"
    module.write_text(textwrap.dedent('''
        def step(W1, b1, W2, b2, X, Y, lr, reg):
            return W1.T, b1, W2.T, b2        # as a rows-as-samples trainer stores them
    '''))
    run = oraclenet("check", "step", "--impl", f"{module}:step", "--timeout", "60")
    assert run.returncode == 1 and "W1 has shape (784, 1), expected (1, 784): its transpose, " \
        "as where samples are rows" in run.stdout, run.stdout
    rng = np.random.default_rng(3)
    np.savez(tmp_path / "p.npz", W1=rng.random((784, 16)), b1=rng.random(16),
             W2=rng.random((16, 10)), b2=rng.random(10))
    with pytest.raises(ValueError, match=r"W1 has shape \(784, 16\), expected \(16, 784\): its "
                                         "transpose, as where samples are rows"):
        read_params(tmp_path / "p.npz")


def test_a_batch_folder_is_read_and_a_bad_one_named(tmp_path):
    """--batch as a folder of one file per matrix (X.mat and Y.mat or labels, any format),
    as a C++ program writes them; a folder without X, or with two, is one line."""
    from oraclenet.check.network import read_batch

    rng = np.random.default_rng(2)
    X, labels = rng.random((784, 6)), rng.integers(0, 10, 6)
    folder = tmp_path / "batch"
    folder.mkdir()
    np.savetxt(folder / "X.mat", X)
    np.savetxt(folder / "labels.txt", labels[None], fmt="%d")
    got_X, got_Y = read_batch(folder)
    assert np.array_equal(got_X, X) and np.array_equal(got_Y.argmax(axis=0), labels)
    np.save(folder / "X.npy", X)
    with pytest.raises(ValueError, match=r"batch: two files for X: X\.mat, X\.npy; keep one"):
        read_batch(folder)
    for f in folder.glob("X.*"):
        f.unlink()
    with pytest.raises(ValueError, match=r"batch: a batch folder holds X and Y .*: no X"):
        read_batch(folder)
