"""Starting MPI jobs from a plain process: the mpiexec of the mpich wheel (beside this
Python), one BLAS thread per rank, a timeout on every run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

MPIEXEC = Path(sys.executable).parent / "mpiexec"
TIMEOUT_S = 600  # the watchdog's: a rank without progress this long ends the job
WHOLE_RUN_S = 3600  # the longest a worker run may take in all


def run_worker(ranks: int, *argv: str, timeout: float = TIMEOUT_S) -> dict:
    """`mpiexec -n ranks python -m mpi4py -m oraclenet.parallel.worker argv --timeout T`:
    the JSON that rank 0 prints last. Each rank's watchdog ends a stalled job after
    `timeout` seconds without progress, naming the rank; the whole run is bounded too."""
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1")
    out = subprocess.run([str(MPIEXEC), "-n", str(ranks), sys.executable, "-m", "mpi4py",
                          "-m", "oraclenet.parallel.worker", *argv, "--timeout", str(timeout)],
                         capture_output=True, text=True, env=env, timeout=WHOLE_RUN_S)
    if out.returncode != 0:
        raise RuntimeError(f"mpiexec -n {ranks} oraclenet.parallel.worker {' '.join(argv)} "
                           f"failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])
