"""oraclenet regress: the ensemble consistency test passes honest reruns (another summation
order, another formula, the same run bit for bit, which it calls identical) and catches the
issue's planted regressions (the L2 term on b1 as well, a learning rate halved after the
first epoch), naming the first checkpoint that leaves the ensemble."""

import json
import math
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from oraclenet.common.data import Dataset, load
from oraclenet.common.params import Params, init_params
from oraclenet.corpus.outside import LrHalvedAfter, l2_on_b1, reversed_hidden_rows, step
from oraclenet.judge.roundoff import unit_roundoff
from oraclenet.judge.tolerances import tolerance
from oraclenet.regress import consistency, trajectory
from oraclenet.regress.baseline import FORMAT

IMAGES, HIDDEN, BATCH, LR, REG, EPOCHS, MEMBERS = 1000, 16, 100, 0.5, 1e-3, 2, 40


def logaddexp_sigmoid(W1, b1, W2, b2, X, Y, lr, reg):
    """Another honest formula: the sigmoid through logaddexp, the softmax through its log."""
    p = Params(W1.copy(), b1.copy(), W2.copy(), b2.copy())
    trajectory.Variant("logaddexp", True, 1).step(p, X, Y, reg, lr)
    return tuple(p.blocks().values())


@pytest.fixture(scope="module")
def baseline():
    split = load("mnist5k", "unit", 0.1, 0)
    train = Dataset(split.train.images[:IMAGES], split.train.labels[:IMAGES])
    steps = EPOCHS * IMAGES // BATCH
    run = trajectory.drive(step, init_params(HIDDEN, 0), train, BATCH, LR, REG, steps,
                           np.float64)
    at = trajectory.checkpoints(run.steps)
    anchor = trajectory.anchors(run, at)
    members = trajectory.ensemble(run, MEMBERS, at, anchor).quantities
    return run, at, anchor, consistency.fit(members), trajectory.trajectory(run, at, anchor)


def judge(baseline, implementation):
    run, at, anchor, models, recorded = baseline
    new = trajectory.drive(implementation, run.params[0], run.train, run.batch, run.lr, run.reg,
                           run.steps, np.float64)
    return consistency.judge(models, trajectory.trajectory(new, at, anchor), recorded)


def test_the_same_run_is_identical(baseline):
    verdict = judge(baseline, step)
    assert verdict.identical and verdict.consistent


@pytest.mark.parametrize("implementation", [reversed_hidden_rows, logaddexp_sigmoid])
def test_honest_changes_are_consistent(baseline, implementation):
    verdict = judge(baseline, implementation)
    assert verdict.consistent and not verdict.identical, verdict.min_p
    assert verdict.min_p > tolerance("regress.false_alarm")


@pytest.mark.parametrize(("implementation", "first"), [
    (l2_on_b1, 1), (LrHalvedAfter(IMAGES // BATCH), 4)])
def test_planted_regressions_leave_the_ensemble(baseline, implementation, first):
    """L2 on b1 leaves at the first checkpoint; the halved rate once epoch 2 has begun
    (checkpoint 4 of 6 is step 14 of 20)."""
    verdict = judge(baseline, implementation)
    assert not verdict.consistent and verdict.first_step == first, verdict


def test_fresh_members_raise_false_alarms_at_the_stated_rate(baseline):
    """Members the ensemble was not built from are harmless reruns by construction: no more
    fail than the stated rate allows, up to a binomial allowance that a correct test exceeds
    with probability 1e-3."""
    run, at, anchor, models, _ = baseline
    draws = 100
    alarms = sum(not consistency.judge(models, trajectory.member(run, seed, at, anchor).quantities)
                 .consistent for seed in range(1000, 1000 + draws))
    alpha = tolerance("regress.false_alarm")
    assert alarms <= stats.binom.isf(alpha, draws, alpha), alarms


# --- the command, with outside steps and GEMMs -------------------------------------------------

ORACLENET = Path(sys.executable).parent / "oraclenet"
ROOT = Path(__file__).resolve().parent.parent

MODULE = "oraclenet.corpus.outside"  # the implementations, named as a user names theirs


def regress(*argv, cwd=None):
    return subprocess.run([str(ORACLENET), "regress", *map(str, argv)], capture_output=True,
                          text=True, timeout=900, cwd=cwd)


@pytest.fixture(scope="module")
def step_baseline(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("regress") / "step-baseline"
    done = regress("record", "--out", out, "--impl", f"{MODULE}:step")
    assert done.returncode == 0, done.stderr[-3000:]
    return out


def verdicts(stdout: str) -> dict[str, str]:
    """what -> verdict, from the table the check prints (after its progress lines)."""
    lines = stdout.splitlines()
    table = lines[next(i for i, line in enumerate(lines) if line.startswith("what ")) + 1:]
    return {cells[0]: cells[1] for cells in (re.split(r"\s{2,}", line) for line in table)
            if len(cells) >= 2}


@pytest.mark.parametrize(("name", "exit_code", "verdict", "accuracy", "first"), [
    ("step", 0, "identical", "consistent", "identical"),
    ("reversed_hidden_rows", 0, "consistent", "consistent", "from step 1"),
    # b1 starts at 0: step 1 is the same; the final predictions too (a correctness regression)
    ("l2_on_b1", 1, "REGRESSION", "consistent", "from step 2"),
    # epoch 1 (18 steps) is the same; 0.690 against 0.738 on 500 images, 31 lost and 7 gained
    ("lr_halved_after_the_first_epoch", 1, "REGRESSION", "REGRESSION", "identical"),
])
def test_an_outside_steps_regressions_and_harmless_changes(step_baseline, name, exit_code,
                                                           verdict, accuracy, first):
    """The trajectory's verdict, the accuracy's, and the first steps kept whole: from which
    step the run stops being the baseline bit for bit."""
    done = regress("check", "--baseline", step_baseline, "--impl", f"{MODULE}:{name}",
                   "--no-speed")
    assert done.returncode == exit_code, done.stdout + done.stderr[-2000:]
    found = verdicts(done.stdout)
    assert found["impl: trajectory"] == verdict, done.stdout
    assert found["impl: validation accuracy"] == accuracy, done.stdout
    line = next(line for line in done.stdout.splitlines() if line.startswith("impl: first"))
    assert first in line, line


SPEED = "impl images/s"  # the speed a step baseline records


def spread(samples: list[float]) -> float:
    """How far apart samples of one unchanged piece of work lie: max / min - 1."""
    return max(samples) / min(samples) - 1


def speed_noise(step_baseline) -> str | None:
    """Why this machine cannot judge speed now, or None: samples of the one unchanged step
    (the baseline's own, and three fresh ones taken now) that differ among themselves, or from
    each other's median, by more than the slowdown the check decides on ([regress] slowdown)
    leave the check unable to tell a slowdown from the machine's load."""
    from oraclenet.regress.baseline import read
    from oraclenet.regress.session import Settings, spawn_sample

    then = read(step_baseline)["speed"][SPEED]
    then = then["relative"] or then["rates"]
    now = [r if r is not None else rate for rate, r in (
        spawn_sample(Settings(step_baseline, impl=f"{MODULE}:step"), SPEED) for _ in range(3))]
    moved = abs(float(np.median(now)) / float(np.median(then)) - 1)
    limit = tolerance("regress.slowdown")
    for what, x in (("the baseline's samples spread", spread(then)),
                    ("fresh samples spread", spread(now)), ("their medians differ", moved)):
        if x > limit:
            return (f"cannot judge speed here: {what} by {x:.0%} for one unchanged step, more "
                    f"than the {limit:.0%} slowdown a check decides on (a loaded machine)")
    return None


@pytest.mark.serial
def test_a_speed_regression_is_caught_on_the_same_machine(step_baseline, tmp_path):
    """An extra copy of X per step, made column by column: the same trajectory bit for bit,
    about half the speed. (A contiguous copy costs this small step 13% to 17% here, so near
    the 10% a check calls slower that baselines 5% apart decide it: 35 of 36 pairs caught,
    docs/regress-speed.md.) The machine's noise is measured first, and again after a check
    that did not call it slower: a loaded machine cannot judge speed, and says so (a skip)
    instead of failing."""
    if (noisy := speed_noise(step_baseline)) is not None:
        pytest.skip(noisy)
    done = regress("check", "--baseline", step_baseline, "--impl",
                   f"{MODULE}:extra_copy_of_X_by_columns", "--report", tmp_path / "r")
    found = verdicts(done.stdout).get(f"speed: {SPEED}")
    if found != "slower" and (noisy := speed_noise(step_baseline)) is not None:
        pytest.skip(f"{noisy} (measured again after the check called the speed {found})")
    assert done.returncode == 1, done.stdout + done.stderr[-2000:]
    assert found == "slower", done.stdout
    assert verdicts(done.stdout)["impl: trajectory"] == "identical", done.stdout
    assert (tmp_path / "r" / "band-impl.png").stat().st_size > 0


def test_a_gemm_on_tf32_inputs_is_a_precision_regression_and_a_tile_size_is_not(tmp_path):
    out = tmp_path / "gemm-baseline"
    done = regress("record", "--out", out, "--quick", "--impl", f"{MODULE}:gemm_tile_16",
                   "--kind", "gemm", "--dtype", "float32")
    assert done.returncode == 0, done.stderr[-3000:]
    same = regress("check", "--baseline", out, "--quick", "--impl", f"{MODULE}:gemm_tile_32",
                   "--kind", "gemm", "--dtype", "float32")
    assert same.returncode == 0, same.stdout + same.stderr[-2000:]
    tf32 = regress("check", "--baseline", out, "--quick", "--impl",
                   f"{MODULE}:gemm_tf32_inputs", "--kind", "gemm", "--dtype", "float32")
    assert tf32.returncode == 1, tf32.stdout + tf32.stderr[-2000:]
    assert "behaved like float32 (" in tf32.stdout and "now like tf32 (" in tf32.stdout, \
        tf32.stdout


def test_roundings_count_units_of_the_largest_entry_of_a_block():
    """W1's largest entry made 0.5, then moved by exactly 6 u of itself (0.5 + 3 u is a
    float64): 6 roundings, the other blocks none."""
    u = unit_roundoff(np.float64)
    base = init_params(HIDDEN, 0).astype(np.float64)
    base.W1[0, 0] = 0.5
    moved = base.astype(np.float64)
    moved.W1[0, 0] = 0.5 + 3 * u
    assert np.abs(base.W1).max() == 0.5
    assert trajectory.roundings(base, base, u) == 0
    assert trajectory.roundings(moved, base, u) == 6


def test_a_gemm_on_device_arrays_is_recorded_and_checked_on_them(tmp_path):
    """--arrays numba (Numba's simulator here): the same GEMM again is the same precision,
    its TF32-input twin a regression; --arrays without --kind gemm is a usage error."""
    out, device = tmp_path / "gemm-baseline", ("--kind", "gemm", "--dtype", "float32",
                                                "--arrays", "numba", "--no-speed", "--quick")
    done = regress("record", "--out", out, "--impl", f"{MODULE}:gemm_tile_16_on_device",
                   *device)
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads((out / "baseline.json").read_text())["subjects"]["impl"]["arrays"] == \
        "numba"
    tf32 = regress("check", "--baseline", out, "--impl",
                   f"{MODULE}:gemm_tf32_inputs_on_device", *device)
    assert tf32.returncode == 1 and "now like tf32 (" in tf32.stdout, \
        tf32.stdout + tf32.stderr[-2000:]
    usage = regress("check", "--baseline", out, "--impl", f"{MODULE}:gemm_tile_16",
                    "--arrays", "numba")
    assert usage.returncode == 2 and "--arrays: only for a GEMM, with --kind gemm" in \
        usage.stderr, usage.stderr


def _edited(data: dict, **impl) -> dict:
    """baseline.json with some of the impl subject's entries replaced."""
    data["subjects"]["impl"].update(impl)
    return data


def _arrays(directory: Path, **change) -> None:
    """The impl subject's arrays with some replaced by change[name](array)."""
    with np.load(directory / "impl.npz") as f:
        arrays = {k: change.get(k, lambda a: a)(f[k]) for k in f.files}
    np.savez_compressed(directory / "impl.npz", **arrays)


@pytest.mark.parametrize(("damage", "message"), [
    (lambda d: (d / "baseline.json").write_text("{"), "cannot read the baseline"),
    (lambda d: (d / "baseline.json").write_text('{"format": 0}'),
     f"not a baseline of format {FORMAT}"),
    (lambda d: (d / "baseline.json").write_text(json.dumps({
        **json.loads((d / "baseline.json").read_text()), "format": 1})),
     f"not a baseline of format {FORMAT}"),
    (lambda d: (d / "impl.npz").write_bytes(b"PK\x03"), "cannot read subject impl"),
    (lambda d: (d / "impl.npz").unlink(), "cannot read subject impl"),
    (lambda d: (d / "baseline.json").write_text(json.dumps(_edited(
        json.loads((d / "baseline.json").read_text()), val_images=499))),
     "(500,) validation predictions for 499 images"),
    (lambda d: (d / "baseline.json").write_text(json.dumps(
        {**json.loads((d / "baseline.json").read_text()), "subjects": []})),
     "malformed (subjects)"),
    # Damage that was judged: a false regression, a pass of nothing, or a traceback
    (lambda d: (d / "impl.npz").write_bytes((d / "impl.npz").read_bytes()[:5000]),
     "cannot read subject impl: BadZipFile"),
    (lambda d: (d / "baseline.json").write_text(json.dumps(
        {**json.loads((d / "baseline.json").read_text()), "subjects": {}})),
     "no subjects: nothing to check against"),
    (lambda d: (d / "baseline.json").write_text(json.dumps(_edited(
        json.loads((d / "baseline.json").read_text()), checkpoints=[-1, 6, 9]))),
     "subject impl: checkpoints must be a list of finite numbers >= 1, ascending, got [-1,"),
    (lambda d: (d / "baseline.json").write_text(json.dumps(_edited(
        json.loads((d / "baseline.json").read_text()), members=1))),
     "subject impl: members must be an integer >= 30, got 1"),
    (lambda d: _arrays(d, ensemble=lambda e: np.full_like(e, np.nan)),
     "the ensemble must be finite numbers"),
    (lambda d: _arrays(d, ensemble=lambda e: np.broadcast_to(e[:1], e.shape).copy()),
     "the ensemble has no spread at checkpoint"),
])
def test_a_corrupt_or_incomplete_baseline_is_one_line(step_baseline, tmp_path,
                                                      damage, message):
    copy = tmp_path / "b"
    shutil.copytree(step_baseline, copy)
    damage(copy)
    done = regress("check", "--baseline", copy, "--impl", f"{MODULE}:step", "--no-speed")
    assert done.returncode == 2 and message in done.stderr, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr


def test_an_outside_float32_run_its_reruns_and_a_bug_at_step_3(tmp_path):
    """examples/outside_trainer: a float32 run recorded with --run; the same run again is
    identical, the hidden units in reverse order consistent with the float32 ensemble, and
    the bug at step 3 leaves it there."""
    trainer = ROOT / "examples" / "outside_trainer" / "trainer.py"
    for name, extra in (("base", []), ("again", []), ("reversed", ["--reverse-hidden"]),
                        ("bug", ["--bug-at-step", "3"])):
        subprocess.run([sys.executable, str(trainer), str(tmp_path / name), *extra],
                       check=True, timeout=120)
    done = regress("record", "--out", tmp_path / "B", "--run", tmp_path / "base")
    assert done.returncode == 0, done.stderr[-2000:]
    for name, exit_code, verdict in (("again", 0, "identical"), ("reversed", 0, "consistent"),
                                     ("bug", 1, "REGRESSION")):
        done = regress("check", "--baseline", tmp_path / "B", "--run", tmp_path / name)
        assert done.returncode == exit_code, done.stdout + done.stderr[-2000:]
        assert verdicts(done.stdout)["run: trajectory"] == verdict, done.stdout
    assert "leaves the roundoff ensemble at step 3" in done.stdout, done.stdout
    assert verdicts(done.stdout)["run: first steps"] == "differs", done.stdout
    assert "from step 3:" in done.stdout, done.stdout


def test_record_writes_nothing_over_what_is_not_a_regular_file(tmp_path):
    (tmp_path / "B" / "baseline.json").mkdir(parents=True)
    done = regress("record", "--out", tmp_path / "B", "--quick", "--impl", f"{MODULE}:step")
    assert done.returncode == 2 and "not a regular file" in done.stderr, done.stderr
    assert sorted(p.name for p in (tmp_path / "B").iterdir()) == ["baseline.json"]


# --- our own committed baseline ----------------------------------------------------------------

BASELINES = ROOT / "baselines"


def test_the_committed_quick_baseline_holds_at_3_ranks(tmp_path):
    """CI's quick check against baselines/quick (recorded at P = 2), with P = 3 for the MPI
    trajectories: a harmless change. Speed is left out here: CI's machine and its load are
    not the recording machine's (`nox -s regress` compares it)."""
    done = regress("check", "--baseline", BASELINES / "quick", "--quick", "--ranks", "3",
                   "--no-speed", "--report", tmp_path / "r")
    assert done.returncode == 0, done.stdout + done.stderr[-2000:]
    found = verdicts(done.stdout)
    for strategy in ("data", "model"):
        assert found[f"mpi-{strategy} (P = 3): trajectory"] == "consistent", done.stdout
    assert sum(what.startswith("mpi-") and what.endswith("trajectory") for what in found) == 2
    assert found["oracle: trajectory"] in ("identical", "consistent"), done.stdout
    assert all(found[f"{who}: validation accuracy"] == "consistent" for who in (
        "oracle", "mpi-data (P = 3)", "mpi-model (P = 3)", "gpu")), done.stdout
    assert (tmp_path / "r" / "band-mpi-model-p-3.png").stat().st_size > 0


def test_the_host_gemm_speed_work_times_calls_on_the_same_finite_c():
    """An outside or numpy GEMM's speed work, as the GPU's (tests/gpu/test_regress_kernels.py):
    in float32 C := 2 A B + 5 C in place would overflow after about 55 calls; every timed call
    starts from the same C, so twice that many leave the first call's C, finite."""
    from oraclenet.regress import session

    work = session._gemm_work(session._numpy_gemm, "float32", (9, 7, 5))
    work()
    first = work.C.copy()
    growth = math.log(float(np.finfo(np.float32).max) / float(np.abs(first).max()), 5)
    for call in range(2 * math.ceil(growth)):
        work()
        assert np.all(np.isfinite(work.C)), f"call {call + 2}: C is no longer finite"
        np.testing.assert_array_equal(work.C, first, err_msg=f"call {call + 2}")
