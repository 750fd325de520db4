"""Run under MPI: `mpiexec -n P python -m mpi4py -m pytest --with-mpi tests/mpi`, P = 1..4.

Each check of the MPI suite (oraclenet.corpus.mpi_suite: every step of an epoch of both
strategies against the oracle's bounds, numpy and --gpu, teacher-forced and free-running;
the planted MPI bugs; the bytes per step; the evaluation path) is a test here, at the rank
count pytest runs under. Rank 0 judges; every rank asserts the same outcome, so no rank is
left waiting.
"""

import pytest

from oraclenet.corpus import mpi_suite
from oraclenet.corpus.suite import failures, message
from oraclenet.parallel.comm import Comm

CHECKS = mpi_suite.checks()


@pytest.mark.mpi
@pytest.mark.parametrize("name", [n for n, c in CHECKS.items() if not c.gpu])
def test_the_mpi_suite(name):
    run(name)


@pytest.mark.mpi(min_size=2)  # on one rank the --gpu trainers are the GPU suite's device network
@pytest.mark.parametrize("name", [n for n, c in CHECKS.items() if c.gpu])
def test_the_mpi_suite_with_gpu_kernels(name):
    run(name)


def run(name: str) -> None:
    comm = Comm()
    if comm.size < CHECKS[name].min_ranks:
        pytest.skip(f"needs {CHECKS[name].min_ranks} ranks or more")
    found = mpi_suite.run(comm, name)
    ok, text = comm.comm.bcast((not failures(found), message(found)))
    assert ok, text
