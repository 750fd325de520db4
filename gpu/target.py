"""Where the kernels run: on a real GPU when nvidia-smi finds one, else in Numba's CUDA
simulator. The choice must be made before numba is first imported, so the callers that make
it are entry points (the test conftests, `oraclenet separation`), never an import."""

import os
import shutil
import subprocess


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
    return ("Numba CUDA simulator" if os.environ.get("NUMBA_ENABLE_CUDASIM") == "1"
            else "real GPU")
