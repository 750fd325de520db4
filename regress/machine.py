"""Where and from what a baseline was made: the machine's fingerprint (speed is compared only
between equal fingerprints) and the provenance (commit, date, package versions)."""

from __future__ import annotations

import datetime
import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path

PACKAGES = ("oraclenet", "numpy", "scipy", "numba", "numba-cuda", "mpi4py", "mpich")


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def gpu_name() -> str:
    """The CUDA GPU's name, 'simulator' under NUMBA_ENABLE_CUDASIM, or 'none'."""
    from ..gpu.options import device_error, simulated

    if simulated():
        return "simulator"
    if device_error() is not None:
        return "none"
    from numba import cuda

    name = cuda.get_current_device().name
    return name.decode() if isinstance(name, bytes) else str(name)


def fingerprint() -> dict:
    """What decides speed: CPU model, cores, numpy and its BLAS, the GPU."""
    import numpy as np
    from threadpoolctl import threadpool_info

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    # numpy's BLAS (scipy's, when loaded, does not run the trainers' products)
    blas = ", ".join(sorted({f"{i.get('internal_api')} {i.get('version')} "
                             f"({i.get('architecture')})" for i in threadpool_info()
                             if i.get("user_api") == "blas"
                             and "numpy" in str(i.get("filepath"))})) or "unknown"
    return {"cpu": cpu_model(), "cores": cores, "numpy": np.__version__, "blas": blas,
            "gpu": gpu_name()}


def provenance(root: Path | None = None) -> dict:
    """Git commit (where the package runs from a checkout), date, package versions."""
    root = root or Path(__file__).resolve().parent.parent
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True,
                                text=True, timeout=10).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        commit = None
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return {"commit": commit, "date": datetime.datetime.now(datetime.UTC).isoformat(
        timespec="seconds"), "python": platform.python_version(), "packages": versions}


def differences(a: dict, b: dict) -> list[str]:
    """The fields in which two fingerprints differ, in words."""
    return [f"{k}: {a.get(k)!r} then, {b.get(k)!r} now" for k in sorted(set(a) | set(b))
            if a.get(k) != b.get(k)]
