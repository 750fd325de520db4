"""The float64 oracle for a 784 -> H sigmoid -> 10 softmax network, and the tools that judge
other implementations against it (roundoff-aware comparisons, gradient checks)."""

import ctypes
import os

# OpenBLAS's idle threads busy-wait for about 2^28 cycles after every call, taking the cores
# that the elementwise work between two GEMMs of a training step needs. Must precede numpy.
os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")


def _keep_freed_memory() -> None:
    """glibc gives freed blocks over 128 KiB back to the OS, so every H x N temporary of a
    training step comes back as fresh pages that the kernel faults in and zeroes (about
    0.5 ms per 6 MB): raise both thresholds so that freed blocks are reused instead."""
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:  # not glibc: nothing to tune
        return
    m_trim_threshold, m_mmap_threshold = -1, -3
    libc.mallopt(m_mmap_threshold, 32 << 20)  # glibc's largest allowed value
    libc.mallopt(m_trim_threshold, 1 << 30)


_keep_freed_memory()
