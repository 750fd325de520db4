"""`oraclenet verify`: one driver numbers the sections in a fixed order, shows progress, and
its oracle section trains the defaults to the target accuracy on mnist5k."""

import json
import subprocess
import sys
from pathlib import Path

from oraclenet.common import config as cfg

ORACLENET = Path(sys.executable).parent / "oraclenet"


def test_sections_come_in_report_order_with_progress_and_the_defaults_reach_the_target(
        tmp_path):
    """The sections asked for in the other order still come oracle first; the defaults
    reach the foundation issue's accuracy (the plain `oraclenet train` trains the same)."""
    out = subprocess.run([str(ORACLENET), "verify", "--out", str(tmp_path), "--section",
                          "gradcheck", "--section", "oracle"], capture_output=True, text=True,
                         timeout=600)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    index = (tmp_path / "index.md").read_text()
    assert index.index("## 1. The float64 oracle") < index.index("## 2. Gradient check")
    assert "## 3." not in index and "Verdict: **PASS**" in index
    assert "verify [1/2] oracle: training the oracle" in out.stdout
    assert "verify [2/2] gradcheck: PASS" in out.stdout
    record = json.loads((tmp_path / "train.json").read_text())
    assert record["val_accuracy"] >= cfg.TARGET_ACCURACY, record["val_accuracy_per_epoch"]
    assert record["config"] == cfg.DEFAULTS.as_dict()
    for picture in ("loss.png", "accuracy.png", "gradcheck/gradcheck.png"):
        assert (tmp_path / picture).read_bytes()[:4] == b"\x89PNG"


def test_an_out_that_is_a_file_is_refused_before_any_work(tmp_path):
    (tmp_path / "taken").write_text("mine")
    out = subprocess.run([str(ORACLENET), "verify", "--out", str(tmp_path / "taken")],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and out.stderr.count("\n") == 1
    assert "taken: exists and is a regular file, not a directory" in out.stderr
    assert (tmp_path / "taken").read_text() == "mine"
