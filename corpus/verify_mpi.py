"""The verify report's section on the MPI trainers: the MPI suite (mpi_suite.py) under the
real mpiexec at P = 1..4, the bytes each strategy hands to MPI per step at H = 1000, B = 800
next to the analytic count, and the cost model's projected speedup."""

from __future__ import annotations

import sys
from pathlib import Path

from ..common.report import Say, Section, ratio_table, table, verdict_word
from ..common.shapes import flops_per_image
from ..parallel import costmodel
from ..parallel.bench import CLUSTER_ALPHA, CLUSTER_BETA, plot_speedup, worker_run
from ..parallel.launch import MPIEXEC, TIMEOUT_S
from .mpi_suite import unrun
from .suite import failed_text, run_suite

TITLE = "MPI trainers"
RANKS = (1, 2, 3, 4)


def section(out: Path, say: Say) -> Section:
    from ..gpu.target import choose

    target = choose()  # what the suite's processes choose too
    suites = {}
    for p in RANKS:
        say(f"the MPI suite under mpiexec at P = {p} ({p}/{len(RANKS)})")
        run = run_suite([str(MPIEXEC), "-n", str(p), sys.executable, "-m", "mpi4py", "-m",
                         "oraclenet.corpus.mpi_suite"], TIMEOUT_S,
                        lambda line, p=p: say(f"P = {p}: {line}"))
        suites[p] = run
        say(f"P = {p}: {run.summary}")
    H, B = 1000, 800
    say(f"bytes per step at H = {H}, B = {B}, P = 2")
    runs = {s: worker_run(s, 2, 2 * B, H, B, 1) for s in ("data", "model")}
    rate = min(B * flops_per_image(H) / 2 / r["step_seconds"] for r in runs.values())
    plot_speedup(costmodel.Machine(CLUSTER_ALPHA, CLUSTER_BETA, rate, 1 << 20), H, B,
                 out / "mpi-speedup.png")
    missing = unrun(f for run in suites.values() for f in run.findings)
    passed = all(run.passed for run in suites.values()) and not missing
    suite_rows = [(p, verdict_word(run.passed), run.summary) for p, run in suites.items()]
    byte_rows = [(s, f"{runs[s]['bytes_per_step']:,.0f}",
                  f"{costmodel.step_bytes(s, H, B):,}") for s in ("data", "model")]
    body = f"""Verdict: **{verdict_word(passed)}**.

Every step of an epoch of both strategies, with numpy and with `--gpu`, teacher-forced and
free-running, against the first-order bounds of `judge/bounds.py`; the planted MPI bugs
(regularisation on every rank, local-batch normalisation, the last rank's columns dropped,
db2 summed over ranks, a rank whose parameters drift) must each fail by a ratio of 100 or
more (`mpiexec -n P python -m mpi4py -m oraclenet.corpus.mpi_suite OUT`, which tests/mpi
runs as tests):

{table(["ranks", "verdict", "findings"], suite_rows)}
{f"Checks run at no rank count: {', '.join(missing)}." if missing else
 "Every check of the suite ran at one rank count or more."} At one rank the checks that need
two (the planted MPI bugs, the --gpu trainers) are not run, hence fewer findings. The --gpu
checks ran on the {target}.
{failed_text(f for run in suites.values() for f in run.findings)}
The ratios behind those verdicts, over every rank count (a correct run's worst verdict must
stay at 1 or below; a planted bug counts by its worst verdict, which must reach 100):

{ratio_table([r for run in suites.values() for r in run.ratios()])}

Bytes handed to MPI per step and rank at H = {H}, B = {B} (measured at P = 2, and the
analytic count 8 (795 H + 11) and 8 (10 B + 1)):

{table(["strategy", "measured", "analytic"], byte_rows)}

The speedup the cost model projects for a cluster (a projection from the measured step rate
and an assumed network, not a measurement; `oraclenet mpi bench` measures this machine):

![projected speedup](mpi-speedup.png)
"""
    return Section(TITLE, body, passed)
