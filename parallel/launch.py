"""Starting MPI jobs from a plain process: the mpiexec of the mpich wheel (beside this
Python), one BLAS thread per rank, a timeout on every run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

MPIEXEC = Path(sys.executable).parent / "mpiexec"
TIMEOUT_S = 600


def run_worker(ranks: int, *argv: str, timeout: float = TIMEOUT_S) -> dict:
    """`mpiexec -n ranks python -m mpi4py -m oraclenet.parallel.worker argv`: the JSON that
    rank 0 prints last."""
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1")
    out = subprocess.run([str(MPIEXEC), "-n", str(ranks), sys.executable, "-m", "mpi4py",
                          "-m", "oraclenet.parallel.worker", *argv], capture_output=True,
                         text=True, env=env, timeout=timeout)
    if out.returncode != 0:
        raise RuntimeError(f"mpiexec -n {ranks} oraclenet.parallel.worker {' '.join(argv)} "
                           f"failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])
