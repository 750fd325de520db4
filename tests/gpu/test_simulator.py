"""The simulator as the GPU tests run it (gpu/target.tune_simulator, from the conftest): the
threads of a block share their shared arrays even when they all ask for them at once."""

import threading

import pytest
from numba import float32, float64

from tests.gpu.conftest import TARGET

THREADS, ROUNDS = 64, 300


@pytest.mark.skipif(TARGET != "Numba CUDA simulator", reason="a real GPU has no simulator")
def test_threads_that_ask_together_get_one_shared_array_per_call_site():
    """64 threads released by one barrier ask for two shared arrays at two call sites, 300
    times. Unguarded, the simulator gave some threads an array of their own in 28 of 300
    such rounds at this switch interval (gpu/target.py)."""
    from numba.cuda.simulator.kernelapi import FakeCUDAShared

    for round_ in range(ROUNDS):
        shared = FakeCUDAShared(0)
        together = threading.Barrier(THREADS)
        got = [None] * THREADS

        def thread(t, shared=shared, together=together, got=got):
            together.wait()
            a = shared.array((4, 16), float64)  # a site is a line: one call per line
            b = shared.array((16, 17), float32)
            got[t] = a, b

        threads = [threading.Thread(target=thread, args=(t,)) for t in range(THREADS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for site in (0, 1):
            arrays = {id(pair[site]) for pair in got}
            assert len(arrays) == 1, f"round {round_}, site {site}: {len(arrays)} arrays"
        a, b = got[0]
        assert a is not b and (a.shape, a.dtype, b.shape, b.dtype) == (
            (4, 16), "float64", (16, 17), "float32")
