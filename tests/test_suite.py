"""The findings of the suites of our own code (oraclenet.corpus.suite): a planted bug counts
as caught only at teeth.min_bug_ratio, and a suite run that times out, crashes, judges
nothing or exits non-zero is never a pass."""

import json
import sys
from dataclasses import replace

import numpy as np

from oraclenet.corpus.suite import Finding, fact, failed_text, honest, planted, run_suite
from oraclenet.judge.roundoff import compare_gemm
from oraclenet.judge.tolerances import tolerance


def verdicts():
    """A passing GEMM verdict and the same verdict failing at ratios just below and at the
    teeth threshold."""
    A, B = np.eye(3), np.arange(9.0).reshape(3, 3)
    good = compare_gemm(A @ B, A, B)
    needed = tolerance("teeth.min_bug_ratio")
    below, at = (replace(good, passed=False, ratio=r) for r in (needed * 0.99, needed))
    return good, below, at


def test_a_planted_bug_is_caught_only_at_the_teeth_threshold():
    good, below, at = verdicts()
    assert planted("bug", [good, at]).ok
    weak = planted("bug", [good, below])
    assert not weak.ok and weak.text.startswith("caught only by a ratio of")
    assert planted("bug", [good, at]).word == "caught"
    assert not planted("bug", [good]).ok  # a bug that passes is missed
    assert not planted("bug", []).ok and planted("bug", []).text == "no verdict was made"


def test_honest_verdicts_must_all_pass_and_keep_their_path():
    good, below, _ = verdicts()
    found = honest("gemm/naive/17x18x19", [good, below])
    assert [f.ok for f in found] == [True, False]
    assert found[1].path == "gemm/naive/17x18x19/" + below.check
    assert str(found[1]) in failed_text(found) and str(found[0]) not in failed_text(found)


WRITES = """import json, sys
print("warming up")
print("[1/1] p: pass", flush=True)
open(sys.argv[-1], "w").write(json.dumps(dict(path="p", word="pass", text="t")) + "\\n")
sys.exit(int(sys.argv[1]))
"""


def test_a_suite_run_passes_only_when_it_exits_0_with_findings_and_none_failed(tmp_path):
    seen = []
    ok = run_suite([sys.executable, "-c", WRITES, "0"], timeout=60, progress=seen.append)
    assert ok.passed and ok.summary == "1 findings, 0 failed"
    assert seen == ["[1/1] p: pass"]  # its progress lines as they come, nothing else
    assert ok.findings == (Finding("p", "pass", "t"),)
    crashed = run_suite([sys.executable, "-c", WRITES, "3"], timeout=60)
    assert not crashed.passed and crashed.summary.endswith("but exit code 3")
    silent = run_suite([sys.executable, "-c", "print('nothing judged')"], timeout=60)
    assert not silent.passed and "exit code 0, no findings: nothing judged" in silent.summary
    slow = run_suite([sys.executable, "-c", "import time; time.sleep(30)"], timeout=1)
    assert not slow.passed and slow.summary == "timed out after 1 s"
    failing = tmp_path / "f.jsonl"
    failing.write_text(json.dumps(fact("count", False, "3 of 4").as_json()) + "\n")
    copied = run_suite([sys.executable, "-c",
                        f"import shutil, sys; shutil.copy({str(failing)!r}, sys.argv[-1])"], 60)
    assert not copied.passed and copied.summary == "1 findings, 1 failed"


def test_an_mpi_check_run_at_no_rank_count_is_named():
    """The MPI section's guard: a planted bug that needs more ranks than any run had (say
    min_ranks 5 at P = 1 to 4) made no finding, and must not pass unseen."""
    from oraclenet.corpus import mpi_suite

    names = list(mpi_suite.checks())
    found = [fact(f"{name}/P=2/step 0", True, "ran") for name in names[1:]]
    assert mpi_suite.unrun(found) == names[:1]
    assert mpi_suite.unrun([*found, fact(f"{names[0]}/P=4", True, "ran")]) == []
