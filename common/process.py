"""Process-wide tuning, applied by entry points (the `oraclenet` command and the internal
MPI workers), never by an import: a library that other people's programs import leaves their
environment, their allocator and their BLAS alone.

- OPENBLAS_THREAD_TIMEOUT: after a product, OpenBLAS's idle threads spin for about 2^28
  cycles before they sleep, taking the cores that reference/threaded.py's elementwise blocks
  need (a step then runs slower than the plain one). OpenBLAS reads the variable once, when
  numpy loads it, so it must be set before numpy is first imported.
- glibc's malloc gives freed blocks over 128 KiB back to the OS, so every H x N temporary of
  a step comes back as fresh pages that the kernel faults in and zeroes: raise both
  thresholds so that freed blocks are reused.
- An MPI rank runs its BLAS on one thread: the ranks are the parallelism.
- numpy's floating-point RuntimeWarnings (overflow, invalid value) are not shown: the
  command checks every loss and the parameters itself and stops a diverging run with one
  line naming the step (exit code 3), which a screen of warnings would only bury.
- SIGTERM ends the command through SystemExit, so that `finally` blocks run: an output being
  written loses its temporary file (common/files.py), instead of leaving it behind.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import warnings


def tune_for_speed() -> None:
    """The two settings above; call before numpy is imported (a no-op for BLAS after)."""
    if "numpy" not in sys.modules:
        os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:  # not glibc: nothing to tune
        return
    m_trim_threshold, m_mmap_threshold = -1, -3
    libc.mallopt(m_mmap_threshold, 32 << 20)  # glibc's largest allowed value
    libc.mallopt(m_trim_threshold, 1 << 30)


def one_blas_thread() -> None:
    """Hold every BLAS library of this process to one thread from now on."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1, user_api="blas")


def blas_description() -> str:
    """The BLAS that numpy runs, as threadpoolctl finds it: library, version, the kernel
    architecture it chose, its threads, and the thread timeout in effect."""
    import numpy  # noqa: F401  (loads the BLAS that threadpoolctl then reports)
    from threadpoolctl import threadpool_info

    found = [f"{i.get('internal_api')} {i.get('version')} ({i.get('architecture')} kernels, "
             f"{i.get('num_threads')} threads)" for i in threadpool_info()
             if i.get("user_api") == "blas"]
    timeout = os.environ.get("OPENBLAS_THREAD_TIMEOUT", "unset")
    return f"{', '.join(found) or 'no BLAS found'}; OPENBLAS_THREAD_TIMEOUT={timeout}"


def exit_on_sigterm() -> None:
    """SIGTERM raises SystemExit(143) in the main thread (the shell's code for it)."""

    def terminate(signum, frame):
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, terminate)


def quiet_float_warnings() -> None:
    """Hide RuntimeWarnings (numpy's overflow and invalid-value warnings) in this process."""
    warnings.simplefilter("ignore", RuntimeWarning)
