"""GPU tests run on a real GPU when there is one, else in Numba's CUDA simulator. The choice
must be made before numba is first imported, so it is made here from nvidia-smi."""

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


if not _gpu_present():
    os.environ.setdefault("NUMBA_ENABLE_CUDASIM", "1")


def pytest_report_header(config):
    mode = ("Numba CUDA simulator" if os.environ.get("NUMBA_ENABLE_CUDASIM") == "1"
            else "real GPU")
    return f"gpu tests: {mode}"
