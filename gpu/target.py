"""Where the kernels run: on a real GPU when nvidia-smi finds one, else in Numba's CUDA
simulator. The choice must be made before numba is first imported, so the callers that make
it are entry points (the test conftests, `oraclenet separation`), never an import.

The simulator runs one Python thread per CUDA thread, and the thread that manages a block
polls them without ever blocking, so it lets go of the GIL only when the interpreter forces
it to, once per switch interval: every thread that leaves a barrier waits for that. At 0.1 ms
instead of Python's 5 ms a training step with the shared or the regblock GEMM runs 1.6 and
3.6 times faster, bit for bit the same (`python benchmarks/simulator_switch_interval.py`:
docs/simulator-switch-interval.md).
"""

import os
import shutil
import subprocess
import sys

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
    """Under NUMBA_ENABLE_CUDASIM, hand the GIL on at SIMULATOR_SWITCH_INTERVAL (see above);
    for entry points and the check's own child processes, never an import."""
    if os.environ.get("NUMBA_ENABLE_CUDASIM") == "1":
        sys.setswitchinterval(SIMULATOR_SWITCH_INTERVAL)
