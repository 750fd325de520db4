"""The verify report's section on the MPI trainers: the equivalence suite (tests/mpi) under
the real mpiexec at P = 1..4, the bytes each strategy hands to MPI per step at H = 1000,
B = 800 next to the analytic count, and the cost model's predicted speedup."""

from __future__ import annotations

import sys
from pathlib import Path

from ..common.report import Say, Section, ratio_table, run_pytest, table, verdict_word
from ..common.shapes import flops_per_image
from . import costmodel
from .bench import CLUSTER_ALPHA, CLUSTER_BETA, plot_speedup, worker_run
from .launch import MPIEXEC, TIMEOUT_S

TITLE = "MPI trainers"
RANKS = (1, 2, 3, 4)


def section(out: Path, say: Say) -> Section:
    suites = {}
    for p in RANKS:
        say(f"the equivalence suite (tests/mpi) under mpiexec at P = {p} ({p}/{len(RANKS)})")
        run = run_pytest("--with-mpi", "tests/mpi", launcher=[str(MPIEXEC), "-n", str(p)],
                         python=[sys.executable, "-m", "mpi4py"],
                         timeout=TIMEOUT_S)
        suites[p] = run
        say(f"P = {p}: {run.summary}")
    H, B = 1000, 800
    say(f"bytes per step at H = {H}, B = {B}, P = 2")
    runs = {s: worker_run(s, 2, 2 * B, H, B, 1) for s in ("data", "model")}
    rate = min(B * flops_per_image(H) / 2 / r["step_seconds"] for r in runs.values())
    plot_speedup(costmodel.Machine(CLUSTER_ALPHA, CLUSTER_BETA, rate, 1 << 20), H, B,
                 out / "mpi-speedup.png")
    passed = all(run.passed for run in suites.values())
    suite_rows = [(p, "pass" if run.passed else "**FAIL**", run.summary)
                  for p, run in suites.items()]
    byte_rows = [(s, f"{runs[s]['bytes_per_step']:,.0f}",
                  f"{costmodel.step_bytes(s, H, B):,}") for s in ("data", "model")]
    body = f"""Verdict: **{verdict_word(passed)}**.

Every step of an epoch of both strategies, with numpy and with `--gpu`, teacher-forced and
free-running, against the first-order bounds of `judge/bounds.py`; the planted MPI bugs
(regularisation on every rank, local-batch normalisation, the last rank's columns dropped,
db2 summed over ranks, a rank whose parameters drift) must each fail by a ratio of 100 or
more (tests/mpi, under the real mpiexec):

{table(["ranks", "verdict", "pytest"], suite_rows)}

The ratios behind those verdicts, over every rank count (a correct run's worst verdict must
stay at 1 or below; a planted bug counts by its worst verdict, which must reach 100):

{ratio_table([r for run in suites.values() for r in run.ratios])}

Bytes handed to MPI per step and rank at H = {H}, B = {B} (measured at P = 2, and the
analytic count 8 (795 H + 11) and 8 (10 B + 1)):

{table(["strategy", "measured", "analytic"], byte_rows)}

![predicted speedup](mpi-speedup.png)
"""
    return Section(TITLE, body, passed)
