"""MPI trainers for the two-layer network: data parallelism (gradients allreduced) and model
parallelism (hidden neurons split across ranks). Judged against the oracle in reference/."""

import os

# One BLAS thread per rank: the ranks are the parallelism. Must precede numpy's import.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
