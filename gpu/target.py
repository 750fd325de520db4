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

Two common spellings of correct kernels fail in the simulator only (numba-cuda 0.30.4), and
are made to run as they do on a GPU:

- `numba.cuda.grid(2)`, `numba.cuda.shared.array(...)` through the `numba` package: during a
  launch the simulator swaps the kernel module's globals that *are* `numba.cuda` for its fake
  module (`kernelapi.swapped_cuda_module`), so `numba.cuda` reached through `numba` stays the
  real module ("module 'numba.cuda' has no attribute 'grid'"). Ours also swaps a global that
  is the `numba` package, for a stand-in whose `cuda` is the fake module.
- a shared array's dtype given as a NumPy scalar type (`dtype=np.float32`): the simulator
  takes `dtype.itemsize` of dynamic shared memory from the type, a descriptor, not a number
  (TypeError ... 'getset_descriptor'). Ours passes np.dtype(dtype).
"""

import ast
import contextlib
import functools
import os
import re
import shutil
import subprocess
import sys
import threading
import traceback
from collections import defaultdict
from pathlib import Path

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
        _swap_the_numba_package_too()


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
        dtype = numpy_support.as_dtype(dtype) if isinstance(dtype, types.Type) else np.dtype(
            dtype)
        if shape == 0 or alignment is not None:
            return unguarded(self, shape, dtype, alignment)
        caller = sys._getframe(1)
        site = (caller.f_code.co_filename, caller.f_lineno)
        with lock:
            arrays = vars(self).setdefault("serialised_arrays", {})
            if site not in arrays:
                arrays[site] = np.empty(shape, dtype)
            return arrays[site]

    array.serialised = True
    FakeCUDAShared.array = array


class _NumbaInKernel:
    """The `numba` package as a simulated kernel sees it: its `cuda` is the launch's fake
    module, everything else the real package's."""

    def __init__(self, fake_cuda):
        self.cuda = fake_cuda

    def __getattr__(self, name: str):
        import numba

        return getattr(numba, name)


def _swap_the_numba_package_too() -> None:
    """Replace the simulator's swap of a kernel's globals by one that also swaps a global
    that is the `numba` package (see above); the same per-module lock and count as
    upstream's, so that nested and concurrent launches restore the globals once."""
    import numba
    from numba import cuda
    from numba.cuda.simulator import kernel

    if getattr(kernel.swapped_cuda_module, "swaps_numba", False):
        return
    register, locks = threading.Lock(), defaultdict(threading.Lock)
    entered, saved = defaultdict(int), {}

    @contextlib.contextmanager
    def swapped(fn, fake_cuda):
        found = fn.__globals__
        key = id(found)
        with register:
            lock = locks[key]
        with lock:
            if entered[key] == 0:
                saved[key] = {k: v for k, v in found.items() if v is cuda or v is numba}
                stand_in = _NumbaInKernel(fake_cuda)
                for k, v in saved[key].items():
                    found[k] = fake_cuda if v is cuda else stand_in
            entered[key] += 1
        try:
            yield
        finally:
            with lock:
                entered[key] -= 1
                if entered[key] == 0:
                    found.update(saved.pop(key))
                    del entered[key]

    swapped.swaps_numba = True
    kernel.swapped_cuda_module = swapped


def simulator_cannot_run(err: BaseException) -> str | None:
    """What Numba's simulator cannot run, where `err` is its shortfall and not the code's
    mistake, in words; else None. Two kinds: CUDA ufuncs and gufuncs (`@vectorize` and
    `@guvectorize` with target='cuda', which numba-cuda 0.30.4 builds from parts the
    simulator lacks: the error comes from its vectorizers), and a name of the real CUDA API
    that the simulator's fake module does not have, such as cuda.cg. A misspelt name
    (cuda.gird) is not in the API: the code's mistake."""
    if os.environ.get("NUMBA_ENABLE_CUDASIM") != "1" or not isinstance(
            err, AttributeError | TypeError | NotImplementedError):
        return None
    frames = traceback.extract_tb(err.__traceback__)
    if any(Path(f.filename).name in ("vectorizers.py", "deviceufunc.py")
           and "numba" in Path(f.filename).parts for f in frames):
        return "CUDA ufuncs and gufuncs (@vectorize or @guvectorize with target='cuda')"
    missing = re.search(r"'FakeCUDAModule' object has no attribute '(\w+)'", str(err))
    if missing and missing.group(1) in _cuda_api():
        return f"cuda.{missing.group(1)}"
    return None


@functools.cache
def _cuda_api() -> frozenset[str]:
    """The names numba.cuda gives kernels on a GPU: those numba-cuda's device_init.py
    defines or imports (read, not imported: it needs the real driver)."""
    import numba.cuda

    tree = ast.parse(Path(numba.cuda.__file__).with_name("device_init.py").read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            names |= {alias.asname or alias.name for alias in node.names}
        elif isinstance(node, ast.FunctionDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names |= {t.id for t in node.targets if isinstance(t, ast.Name)}
    return frozenset(names)


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
