"""What the GPU and MPI suites judged, kept for their verify sections: with ORACLENET_RATIOS
set to a folder (common/report.py run_pytest sets it), each verdict these helpers see becomes
a JSON line in FOLDER/<pid>.jsonl (a file per process: MPI ranks never share one) with its
check, its ratio and whether it judged a correct run or a planted bug."""

import json
import os
from collections.abc import Iterable
from pathlib import Path

from oraclenet.common.report import RATIOS_ENV
from oraclenet.judge.roundoff import assert_passes
from oraclenet.judge.verdict import Verdict


def record(verdicts: Iterable[Verdict], bug: bool) -> None:
    folder = os.environ.get(RATIOS_ENV)
    if not folder:
        return
    with open(Path(folder) / f"{os.getpid()}.jsonl", "a") as f:
        for v in verdicts:
            f.write(json.dumps({"check": v.check, "ratio": v.ratio, "bug": bug}) + "\n")


def passes(verdict: Verdict) -> None:
    """assert_passes, recorded as a correct run."""
    __tracebackhide__ = True
    record([verdict], bug=False)
    assert_passes(verdict)


def worst(verdicts: Iterable[Verdict]) -> Verdict:
    """The verdict with the largest ratio of a planted bug's verdicts, recorded as the bug's."""
    found = max(verdicts, key=lambda v: v.ratio)
    record([found], bug=True)
    return found
