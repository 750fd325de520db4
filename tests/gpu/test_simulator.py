"""The simulator as the GPU tests run it (gpu/target.tune_simulator, from the conftest): the
threads of a block share their shared arrays even when they all ask for them at once."""

import os

import pytest
from numba import float32, float64

from oraclenet.check.gemm import cases
from oraclenet.gpu.target import split_rounds
from tests.gpu.conftest import TARGET

SIMULATOR = pytest.mark.skipif(TARGET != "Numba CUDA simulator",
                               reason="a real GPU has no simulator")


@SIMULATOR
def test_threads_that_ask_together_get_one_shared_array_per_call_site():
    """300 rounds of 64 threads released by one barrier. As numba-cuda ships it, the
    simulator's allocation split 26 rounds of 300 at this switch interval
    (docs/simulator-switch-interval.md), and with gpu/target.py's guard taken out this test
    failed 5 runs in 5 (7 to 29 rounds split)."""
    assert split_rounds(300) == 0


@SIMULATOR
def test_each_call_site_has_its_own_array_of_its_shape_and_dtype():
    """The guard keys arrays by its caller's line: keyed by its own frame, every site of a
    kernel would share one array (the shared GEMM's sA and sB)."""
    from numba.cuda.simulator.kernelapi import FakeCUDAShared

    shared = FakeCUDAShared(0)
    a = shared.array((4, 16), float64)
    b = shared.array((16, 17), float32)
    assert a is not b and (a.shape, a.dtype, b.shape, b.dtype) == (
        (4, 16), "float64", (16, 17), "float32")


# A tiled GEMM as the Numba documentation and tutorials spell it: the `numba` package used
# inside the kernel, shared memory typed by NumPy scalar types (static and dynamic), and a
# CUDA gufunc, which the simulator cannot run at all.
TUTORIAL = '''
import math

import numba
import numba.cuda
import numpy as np

TPB = 16


@numba.cuda.jit
def fast_matmul(C, A, B, alpha, beta):
    sA = numba.cuda.shared.array(shape=(TPB, TPB), dtype=np.float64)
    sB = numba.cuda.shared.array(0, dtype=np.float64)  # dynamic: TPB * TPB of them
    x, y = numba.cuda.grid(2)
    tx, ty = numba.cuda.threadIdx.x, numba.cuda.threadIdx.y
    tmp = 0.0
    for i in range((A.shape[1] + TPB - 1) // TPB):
        sA[tx, ty] = A[x, ty + i * TPB] if x < A.shape[0] and ty + i * TPB < A.shape[1] else 0
        sB[tx * TPB + ty] = (B[tx + i * TPB, y] if y < B.shape[1] and tx + i * TPB < B.shape[0]
                             else 0)
        numba.cuda.syncthreads()
        for j in range(TPB):
            tmp += sA[tx, j] * sB[j * TPB + ty]
        numba.cuda.syncthreads()
    if x < C.shape[0] and y < C.shape[1]:
        C[x, y] = alpha * tmp + beta * C[x, y] if beta != 0 else alpha * tmp


def gemm(C, A, B, alpha, beta):
    grid = (math.ceil(C.shape[0] / TPB), math.ceil(C.shape[1] / TPB))
    fast_matmul[grid, (TPB, TPB), 0, TPB * TPB * 8](C, A, B, alpha, beta)


@numba.guvectorize(["void(float64[:, :], float64[:, :], float64[:, :])"],
                   "(m,k),(k,n)->(m,n)", target="cuda")
def _product(A, B, C):
    for i in range(A.shape[0]):
        for j in range(B.shape[1]):
            C[i, j] = 0
            for k in range(A.shape[1]):
                C[i, j] += A[i, k] * B[k, j]


def gufunc(A, B):
    return _product(A, B)


@numba.cuda.jit
def misspelt(C, A, B, alpha, beta):
    x, y = numba.cuda.gird(2)


def typo(C, A, B, alpha, beta):
    misspelt[1, 1](C, A, B, alpha, beta)
'''


@pytest.fixture(scope="module")
def tutorial(tmp_path_factory):
    where = tmp_path_factory.mktemp("tutorial") / "tutorial.py"
    where.write_text(TUTORIAL)
    return where


@SIMULATOR
def test_a_kernel_written_as_tutorials_write_it_passes_the_battery(tutorial):
    """numba.cuda.grid and numba.cuda.shared.array through the `numba` package, shared
    arrays typed np.float64: as shipped, the simulator raises AttributeError ('numba.cuda'
    has no attribute 'grid') and TypeError ('getset_descriptor') on this correct kernel."""
    from oraclenet import check_gemm

    report = check_gemm(f"{tutorial}:gemm", arrays="numba", timeout=None)
    assert report.passed, str(report)


@SIMULATOR
def test_what_the_simulator_cannot_run_is_not_a_verdict(tutorial):
    """A gufunc GEMM: every case 'not run', exit code 5 (nothing judged), never 1; a
    misspelt device function stays the code's error."""
    import subprocess
    import sys
    from pathlib import Path

    oraclenet = Path(sys.executable).parent / "oraclenet"
    env = {**os.environ, "NUMBA_ENABLE_CUDASIM": "1"}
    unrun = subprocess.run([oraclenet, "check", "gemm", "--impl", f"{tutorial}:gufunc",
                            "--convention", "product", "--arrays", "numba"],
                           capture_output=True, text=True, env=env, timeout=600)
    assert unrun.returncode == 5, unrun.stdout + unrun.stderr
    n = len(cases("quick", "product"))
    assert f"NOT JUDGED: {n} of {n} cases not run (0 passed): not run: Numba's simulator cannot " \
           "run CUDA ufuncs and gufuncs" in unrun.stdout and "this is not a verdict on your " \
           "kernel" in unrun.stdout, unrun.stdout
    typo = subprocess.run([oraclenet, "check", "gemm", "--impl", f"{tutorial}:typo",
                           "--arrays", "numba"], capture_output=True, text=True, env=env,
                          timeout=600)
    assert typo.returncode == 1 and "has no attribute 'gird'" in typo.stdout, typo.stdout
    assert "not run" not in typo.stdout
