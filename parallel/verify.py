"""`python -m parallel verify --out reports/verify`: the MPI section of the verify report.

Runs the equivalence suite (tests/mpi) under the real mpiexec at P = 1..4, measures the bytes
each strategy hands to MPI per step at H = 1000, B = 800 next to the analytic count, and
plots the cost model's predicted speedup. Appends the section to OUT/index.md (written by
`python -m reference verify` first), whole or not at all.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from parallel import costmodel
from parallel.bench import CLUSTER_ALPHA, CLUSTER_BETA, TIMEOUT_S, _mpiexec, _plot
from reference.bench import flops_per_image
from reference.verify import pytest_command, run_pytest, section_index, set_section

ROOT = Path(__file__).resolve().parent.parent
SECTION = "## 3. MPI trainers"


def _suite(ranks: int) -> tuple[bool, str]:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), str(ROOT / "tests" / "mpi")]))
    command = pytest_command("--with-mpi", "tests/mpi")
    command[1:1] = ["-m", "mpi4py"]  # python -m mpi4py -m pytest ...
    ok, summary, _ = run_pytest([str(Path(sys.executable).parent / "mpiexec"), "-n",
                                 str(ranks), *command], env, ROOT, TIMEOUT_S)
    return ok, summary


def main(argv: list[str] | None = None) -> int:
    index = section_index("python -m parallel verify", __doc__, argv)
    if index is None:
        return 2

    suites = {p: _suite(p) for p in (1, 2, 3, 4)}
    H, B = 1000, 800
    runs = {s: _mpiexec(2, "bench-worker", "--strategy", s, "--images", "1600", "-n", str(H),
                        "-b", str(B), "--epochs", "1") for s in ("data", "model")}
    rate = min(B * flops_per_image(H) / 2 / r["step_seconds"] for r in runs.values())
    cluster = costmodel.Machine(CLUSTER_ALPHA, CLUSTER_BETA, rate, 1 << 20)
    _plot(cluster, H, B, index.parent / "mpi-speedup.png")
    passed = all(ok for ok, _ in suites.values())
    rows = "\n".join(f"| {p} | {'pass' if ok else '**FAIL**'} | {summary} |"
                     for p, (ok, summary) in suites.items())
    bytes_rows = "\n".join(
        f"| {s} | {runs[s]['bytes_per_step']:,.0f} | {costmodel.step_bytes(s, H, B):,} |"
        for s in ("data", "model"))
    section = f"""
{SECTION}

Verdict: **{'PASS' if passed else 'FAIL'}**. Made by `python -m parallel verify`.

Every step of an epoch of both strategies, with numpy and with `--gpu`, teacher-forced and
free-running, against the first-order bounds of `reference/bounds.py`; the planted MPI bugs
(regularisation on every rank, local-batch normalisation, the last rank's columns dropped,
db2 summed over ranks, a rank whose parameters drift) must each fail by a ratio of 100 or
more (tests/mpi, under the real mpiexec):

| ranks | verdict | pytest |
|---|---|---|
{rows}

Bytes handed to MPI per step and rank at H = {H}, B = {B} (measured at P = 2, and the
analytic count 8 (795 H + 11) and 8 (10 B + 1)):

| strategy | measured | analytic |
|---|---|---|
{bytes_rows}

![predicted speedup](mpi-speedup.png)
"""
    set_section(index, SECTION, section)
    print(section)
    return 0 if passed else 1
