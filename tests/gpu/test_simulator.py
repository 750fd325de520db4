"""The simulator as the GPU tests run it (gpu/target.tune_simulator, from the conftest): the
threads of a block share their shared arrays even when they all ask for them at once."""

import pytest
from numba import float32, float64

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
