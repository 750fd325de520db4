"""The float64 oracle for a 784 -> H sigmoid -> 10 softmax network, and the tools that judge
other implementations against it (roundoff-aware comparisons, gradient checks)."""

import os

# OpenBLAS's idle threads busy-wait for about 2^28 cycles after every call, taking the cores
# that the elementwise work between two GEMMs of a training step needs. Must precede numpy.
os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")
