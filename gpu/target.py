"""Where the kernels run: on a real GPU when nvidia-smi finds one, else in Numba's CUDA
simulator. The choice must be made before numba is first imported, so the callers that make
it are entry points (the test conftests, `oraclenet separation`), never an import.

The simulator runs one Python thread per CUDA thread, and the thread that manages a block
polls them without ever blocking, so it lets go of the GIL only when the interpreter forces
it to, once per switch interval: every thread that leaves a barrier waits for that. At 0.1 ms
instead of Python's 5 ms a training step with the shared or the regblock GEMM ran 1.4 and
3.0 times faster here, bit for bit the same (`python benchmarks/simulator_switch_interval.py`:
docs/simulator-switch-interval.md).

The simulator hands out a block's shared arrays by call site, with a lookup and a store that
no lock guards (numba-cuda 0.30.4, `FakeCUDAShared.array`): two threads of a block that
reach `cuda.shared.array` together may each get an array of their own, and then a barrier
shares nothing between them. In a GEMM that reads as a wrong row and a wrong column of C, a
false alarm. It happens far more often at 0.1 ms than at 5 ms (`split_rounds` counts it:
docs/simulator-switch-interval.md), so the simulator's allocation is serialised by a lock
of ours.
"""

import os
import shutil
import subprocess
import sys
import threading

import numpy as np

SIMULATOR_SWITCH_INTERVAL = 1e-4  # seconds


def _gpu_present() -> bool:
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return False
    try:
        return subprocess.run([smi, "-L"], capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def choose() -> str:
    """Set NUMBA_ENABLE_CUDASIM unless a GPU is present (or it is set already); name the
    target."""
    if not _gpu_present():
        os.environ.setdefault("NUMBA_ENABLE_CUDASIM", "1")
    tune_simulator()
    return ("Numba CUDA simulator" if os.environ.get("NUMBA_ENABLE_CUDASIM") == "1"
            else "real GPU")


def tune_simulator() -> None:
    """Under NUMBA_ENABLE_CUDASIM, hand the GIL on at SIMULATOR_SWITCH_INTERVAL and give
    every thread of a block the same shared arrays (see above); for entry points and the
    check's own child processes, never an import."""
    if os.environ.get("NUMBA_ENABLE_CUDASIM") == "1":
        sys.setswitchinterval(SIMULATOR_SWITCH_INTERVAL)
        _serialise_shared_arrays()


def _serialise_shared_arrays() -> None:
    """Replace the simulator's allocation of static shared arrays by one that looks up and
    stores under a lock: one array per call site and launch, as before (the launch's
    FakeCUDAShared lives as long as its kernel runs). Dynamic shared memory (shape 0) and
    the refusal of an alignment stay the simulator's own: neither looks anything up."""
    from numba.core import types
    from numba.cuda.simulator.kernelapi import FakeCUDAShared
    from numba.np import numpy_support

    unguarded = FakeCUDAShared.array
    if getattr(unguarded, "serialised", False):
        return
    lock = threading.Lock()

    def array(self, shape, dtype, alignment=None):
        if shape == 0 or alignment is not None:
            return unguarded(self, shape, dtype, alignment)
        caller = sys._getframe(1)
        site = (caller.f_code.co_filename, caller.f_lineno)
        if isinstance(dtype, types.Type):
            dtype = numpy_support.as_dtype(dtype)
        with lock:
            arrays = vars(self).setdefault("serialised_arrays", {})
            if site not in arrays:
                arrays[site] = np.empty(shape, dtype)
            return arrays[site]

    array.serialised = True
    FakeCUDAShared.array = array


def split_rounds(rounds: int, threads: int = 64) -> int:
    """In how many of `rounds` rounds `threads` threads, released together by a barrier and
    each asking for two shared arrays at two call sites, did not all get the same array from
    a site (the simulator's FakeCUDAShared as it is now: guarded by tune_simulator, or not)."""
    from numba import float32, float64
    from numba.cuda.simulator.kernelapi import FakeCUDAShared

    split = 0
    for _ in range(rounds):
        shared, together, got = FakeCUDAShared(0), threading.Barrier(threads), [None] * threads

        def thread(t, shared=shared, together=together, got=got):
            together.wait()
            a = shared.array((4, 16), float64)  # a site is a line: one call per line
            b = shared.array((16, 17), float32)
            got[t] = a, b

        started = [threading.Thread(target=thread, args=(t,)) for t in range(threads)]
        for t in started:
            t.start()
        for t in started:
            t.join()
        split += any(len({id(pair[site]) for pair in got}) > 1 for site in (0, 1))
    return split
