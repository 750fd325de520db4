"""Training loop, presets, parameter files and the `train` command as users run it."""

import errno
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from oraclenet.cli import build_parser
from oraclenet.common import config as cfg
from oraclenet.common.data import Dataset, synthetic
from oraclenet.common.files import write_atomic
from oraclenet.common.loop import epoch_order
from oraclenet.common.params import init_params, load_params, save_params
from oraclenet.judge.tolerances import tolerance
from oraclenet.reference import network
from oraclenet.reference.train import train
from tests.idx_files import corrupt, idx_dir

ORACLENET = Path(sys.executable).parent / "oraclenet"  # the console script, as users run it


def manual_epochs(p, ds: Dataset, batch, lr, reg, epochs, seed=0, shuffle=False):
    """SGD written out batch by batch, for comparison with train()."""
    losses = []
    for epoch in range(epochs):
        order = epoch_order(len(ds), epoch, seed, shuffle)
        images = ds.images if order is None else ds.images[order]
        labels = ds.labels if order is None else ds.labels[order]
        d = Dataset(images, labels)
        for start in range(0, len(ds), batch):
            X, Y = d.batch(start, min(start + batch, len(ds)))
            losses.append(network.loss(p, X, Y, reg))
            network.sgd_step(p, network.backward(p, X, Y, reg), lr)
    return losses


@pytest.mark.parametrize("shuffle", [False, True])
def test_last_partial_batch_is_processed_and_averaged_over_its_size(shuffle):
    ds = synthetic(10, seed=1)
    p, q = init_params(5, 1), init_params(5, 1)
    history = train(p, ds, ds, epochs=2, batch=4, lr=0.3, reg=1e-3, seed=4, shuffle=shuffle,
                    progress=False)
    losses = manual_epochs(q, ds, 4, 0.3, 1e-3, 2, seed=4, shuffle=shuffle)
    assert len(history.train_loss) == 6  # batches of 4, 4, 2 in each epoch
    assert history.images == 20
    np.testing.assert_array_equal(history.train_loss, losses)
    for name, block in p.blocks().items():
        np.testing.assert_array_equal(block, getattr(q, name))


def test_shuffling_is_seeded_and_changes_per_epoch():
    a, b = epoch_order(100, 0, 5, True), epoch_order(100, 0, 5, True)
    assert np.array_equal(a, b) and not np.array_equal(a, epoch_order(100, 1, 5, True))
    assert epoch_order(100, 0, 5, False) is None


def independent_accuracy(p, ds: Dataset) -> float:
    """The share of images whose largest output is their label, written out here: sigmoid
    hidden units, argmax of W2 a + b2."""
    a = 1 / (1 + np.exp(-(p.W1 @ ds.X + p.b1.reshape(-1, 1))))
    return float(np.mean(np.argmax(p.W2 @ a + p.b2.reshape(-1, 1), axis=0) == ds.labels))


def test_history_records_accuracy_per_epoch():
    """Each epoch's entry is the validation accuracy of the parameters at that epoch's end,
    recomputed here from a run written out batch by batch."""
    whole = synthetic(260, seed=2)  # one set of class prototypes, split in two
    ds = Dataset(whole.images[:60], whole.labels[:60])
    val = Dataset(whole.images[60:], whole.labels[60:])
    h = train(init_params(8, 0), ds, val, epochs=3, batch=16, lr=0.5, reg=0.0, progress=False)
    q, expected = init_params(8, 0), []
    for _ in range(3):
        manual_epochs(q, ds, 16, 0.5, 0.0, 1)  # in order: every epoch sees the same batches
        expected.append(independent_accuracy(q, val))
    assert h.val_accuracy_per_epoch == expected
    assert len(set(expected)) == 3, expected  # the epochs are told apart: each one differs
    assert len(h.val_accuracy_per_epoch) == 3 and len(h.epoch_seconds) == 3
    assert len(h.step_seconds) == len(h.train_loss) == 12 and min(h.step_seconds) > 0
    assert sum(h.step_seconds) <= sum(h.epoch_seconds)
    assert all(0.0 <= a <= 1.0 for a in h.val_accuracy_per_epoch)
    assert h.images_per_second > 0


def test_parameters_round_trip_and_bad_files_are_named(tmp_path):
    p = init_params(7, 3, "course")
    save_params(p, tmp_path / "p.npz")
    q = load_params(tmp_path / "p.npz")
    for name, block in p.blocks().items():
        np.testing.assert_array_equal(block, getattr(q, name))
    np.savez(tmp_path / "partial.npz", W1=p.W1, b1=p.b1)
    with pytest.raises(ValueError, match=r"partial.npz: missing block\(s\) W2, b2"):
        load_params(tmp_path / "partial.npz")
    np.savez(tmp_path / "shape.npz", W1=p.W1, b1=p.b1, W2=p.W2.T, b2=p.b2)
    with pytest.raises(ValueError, match=r"shape.npz: W2 has shape \(7, 10\), expected \(10, 7\)"):
        load_params(tmp_path / "shape.npz")
    (tmp_path / "junk.npz").write_text("junk")
    with pytest.raises(ValueError, match=r"junk\.npz: neither an .npz nor a .mat file"):
        load_params(tmp_path / "junk.npz")


def test_outputs_are_written_whole_or_not_at_all(tmp_path):
    target = tmp_path / "out.json"

    def fails_halfway(f):
        f.write(b"{partial")
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(OSError, match=r"cannot write .*out.json: No space left on device"):
        write_atomic(target, fails_halfway)
    assert list(tmp_path.iterdir()) == []


def test_initialisations():
    s, c = init_params(400, 0, "scaled"), init_params(400, 0, "course")

    def spread(a):  # relative standard error of a sample std, times the accepted sigmas
        return tolerance("statistics.init_std_sigmas") / np.sqrt(2 * (a.size - 1))

    assert s.W1.std() == pytest.approx(1 / np.sqrt(784), rel=spread(s.W1))
    assert s.W2.std() == pytest.approx(1 / np.sqrt(400), rel=spread(s.W2))
    assert c.W2.std() == pytest.approx(0.01, rel=spread(c.W2))
    assert not c.b1.any() and not c.b2.any()
    assert np.array_equal(init_params(5, 9).W1, init_params(5, 9).W1)


# --- presets and flags --------------------------------------------------------------------------

def parse(*argv):
    return cfg.resolve(build_parser().parse_args(["train", *argv]))


def test_presets_reproduce_the_course():
    assert parse("--preset", "course") == cfg.TrainConfig(
        hidden=1000, reg=1e-4, lr=0.001, epochs=20, batch=800, pixels="raw", init="course")
    g1, g2, g3 = (parse("--preset", f"grade{i}") for i in (1, 2, 3))
    assert (g1.lr, g1.epochs, g2.lr, g2.epochs, g3.lr, g3.epochs) == (
        0.0005, 40, 0.001, 10, 0.002, 1)
    assert all((g.hidden, g.reg, g.batch, g.pixels) == (100, 1e-4, 800, "raw")
               for g in (g1, g2, g3))
    assert g3.print_loss and not g2.print_loss


def test_explicit_flags_beat_the_preset_and_the_defaults():
    c = parse("--preset", "grade2", "-l", "0.01", "-n", "7")
    assert (c.lr, c.hidden, c.epochs) == (0.01, 7, 10)
    assert parse() == cfg.DEFAULTS


# --- the command, as a user runs it --------------------------------------------------------------

def run_cli(*argv, cwd=None):
    return subprocess.run([str(ORACLENET), *argv], capture_output=True, text=True, cwd=cwd,
                          timeout=300)


def test_train_command_writes_json_and_parameters(tmp_path):
    (tmp_path / "idx").mkdir()
    data_dir = idx_dir(tmp_path / "idx", n_train=40)
    out = run_cli("train", "--data", str(data_dir), "-n", "6", "-e", "2", "-b", "7",
                  "--seed", "3", "--json", str(tmp_path / "run.json"),
                  "--save", str(tmp_path / "p.npz"))
    assert out.returncode == 0, out.stderr
    record = json.loads((tmp_path / "run.json").read_text())
    for key in ("val_accuracy", "train_loss", "val_accuracy_per_epoch", "images_per_second",
                "wall_seconds", "test_accuracy", "config"):
        assert key in record
    assert len(record["train_loss"]) == 2 * 6  # 36 training images in batches of 7
    assert record["config"]["hidden"] == 6 and record["config"]["seed"] == 3
    assert load_params(tmp_path / "p.npz").hidden == 6
    assert "val_accuracy" in out.stdout


def test_grade3_prints_the_loss_every_iteration(tmp_path):
    data_dir = idx_dir(tmp_path, n_train=2000)
    out = run_cli("train", "--preset", "grade3", "--data", str(data_dir), "--quiet")
    assert out.returncode == 0, out.stderr
    assert out.stdout.count("loss") >= 3  # 1800 images in batches of 800: 3 iterations


@pytest.mark.parametrize(("argv", "message"), [
    (["-n", "-5"], "argument -n/--hidden: must be an integer >= 1, got -5"),
    (["-b", "0"], "argument -b/--batch: must be an integer >= 1, got 0"),
    (["-e", "two"], "argument -e/--epochs: expected an integer >= 1, got 'two'"),
    (["-l", "-0.1"], "argument -l/--lr: must be a finite number > 0.0, got -0.1"),
    (["--data", "/no/such/dir"], "--data /no/such/dir: no such directory"),
    (["--preset", "grade9"], "argument --preset: invalid choice: 'grade9'"),
])
def test_bad_values_give_one_line_and_exit_code_2(argv, message):
    out = run_cli("train", *argv)
    assert out.returncode == 2
    assert out.stderr.count("\n") == 1 and message in out.stderr, out.stderr
    assert "Traceback" not in out.stderr


def test_a_corrupt_file_gives_one_line_and_exit_code_2(tmp_path):
    out = run_cli("train", "--data", str(corrupt(tmp_path, "truncated")), "-e", "1")
    assert out.returncode == 2
    assert out.stderr.count("\n") == 1 and "train-images-idx3-ubyte: header says" in out.stderr


def test_training_resumes_from_saved_parameters(tmp_path):
    (tmp_path / "idx").mkdir()
    data_dir = str(idx_dir(tmp_path / "idx", n_train=30))
    first = run_cli("train", "--data", data_dir, "-n", "5", "-e", "1", "-b", "9", "--quiet",
                    "--save", str(tmp_path / "a.npz"))
    assert first.returncode == 0, first.stderr
    again = run_cli("train", "--data", data_dir, "-e", "1", "-b", "9", "--quiet",
                    "--init-from", str(tmp_path / "a.npz"), "--save", str(tmp_path / "b.npz"),
                    "--json", str(tmp_path / "b.json"))
    assert again.returncode == 0, again.stderr
    assert json.loads((tmp_path / "b.json").read_text())["config"]["hidden"] == 5
    a, b = load_params(tmp_path / "a.npz"), load_params(tmp_path / "b.npz")
    assert b.hidden == 5 and not np.array_equal(a.W1, b.W1)  # it trained on from a
    missing = run_cli("train", "--init-from", str(tmp_path / "none.npz"))
    assert missing.returncode == 2 and "--init-from" in missing.stderr
    assert missing.stderr.count("\n") == 1
