"""`oraclenet gpu train` as a user runs it (in the simulator here: a tiny IDX data set)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.idx_files import idx_dir

ORACLENET = Path(sys.executable).parent / "oraclenet"


def run_gpu(*argv, simulator=True):
    """`oraclenet gpu argv`, as users run it."""
    env = dict(os.environ)
    if not simulator:
        env.pop("NUMBA_ENABLE_CUDASIM", None)
    return subprocess.run([str(ORACLENET), "gpu", *argv], capture_output=True, text=True,
                          env=env, timeout=600)


def test_train_writes_the_oracles_json_schema(tmp_path):
    data = idx_dir(tmp_path, n_train=20, n_test=4)
    out = run_gpu("train", "--data", str(data), "-n", "4", "-e", "2", "-b", "9", "--dtype",
                  "float64", "--gemm", "naive", "--quiet", "--json", str(tmp_path / "r.json"),
                  "--save", str(tmp_path / "p.npz"))
    assert out.returncode == 0, out.stderr[-2000:]
    record = json.loads((tmp_path / "r.json").read_text())
    for key in ("val_accuracy", "train_loss", "val_accuracy_per_epoch", "images_per_second",
                "wall_seconds", "test_accuracy"):
        assert key in record
    assert len(record["train_loss"]) == 2 * 2  # 18 training images in batches of 9
    assert record["config"]["dtype"] == "float64" and (tmp_path / "p.npz").is_file()


def test_a_float32_dump_passes_oraclenet_check_run(tmp_path):
    """--dump-dir on the device trainer: every float32 step within the
    oracle's bounds."""
    data = idx_dir(tmp_path, n_train=20, n_test=4)
    out = run_gpu("train", "--data", str(data), "-n", "4", "-e", "1", "-b", "9", "--dtype",
                  "float32", "--gemm", "naive", "--quiet", "--dump-dir", str(tmp_path / "dump"))
    assert out.returncode == 0, out.stderr[-2000:]
    assert json.loads((tmp_path / "dump" / "run.json").read_text())["dtype"] == "float32"
    check = subprocess.run([str(ORACLENET), "check", "run", str(tmp_path / "dump")],
                           capture_output=True, text=True, timeout=600)
    assert check.returncode == 0 and "PASS: 2 of 2 cases" in check.stdout, check.stdout


def test_bad_flags_get_one_line_and_exit_code_2():
    out = run_gpu("train", "--gemm", "cublas")
    assert out.returncode == 2 and out.stderr.count("\n") == 1 and "--gemm" in out.stderr


@pytest.mark.skipif(os.environ.get("NUMBA_ENABLE_CUDASIM") != "1",
                    reason="on a real GPU it measures: run `oraclenet gpu bench` by hand")
def test_bench_says_a_gpu_is_needed_and_exits_0():
    out = run_gpu("bench")
    assert out.returncode == 0, out.stderr[-2000:]
    assert "no CUDA GPU here" in out.stdout


@pytest.mark.skipif(os.environ.get("NUMBA_ENABLE_CUDASIM") != "1",
                    reason="a GPU is present: nothing is missing")
def test_no_gpu_and_no_simulator_is_one_line_and_exit_code_2():
    out = run_gpu("train", "-n", "4", "-e", "1", "--quiet", simulator=False)
    assert out.returncode == 2 and out.stderr.count("\n") == 1, out.stderr[-2000:]
    assert "no CUDA GPU here; set NUMBA_ENABLE_CUDASIM=1" in out.stderr
