"""oraclenet: a float64 oracle for a two-layer MNIST network, and a judge that tells roundoff
from bugs in GPU kernels and MPI trainers, ours and anyone's.

The public surface, for a user's own tests (oraclenet.check.assertions, oraclenet.check.mpi):

    assert_gemm(C, A, B, C0=None, *, alpha=1, beta=0, precision=None)
    assert_grad(grad, params, X, Y, *, reg=0)
    assert_step(before, after, X, Y, *, lr, reg=0)
    check_gemm(func, ...) -> Report, check_grad(func, ...), check_step(func, ...)
    agreed(comm)    a context manager: all MPI ranks fail together, with the failing one's text

The rooms, from the bottom up (docs/architecture.md); each imports only from those below it:

    oraclenet.common     data, parameters, configuration, the epoch loop, records, files
    oraclenet.reference  the oracle: the equations in numpy float64
    oraclenet.judge      roundoff verdicts, whole-step bounds, gradient checks, tolerances
    oraclenet.gpu        Numba CUDA kernels and the device trainer
    oraclenet.parallel   the MPI trainers (data and model parallelism)
    oraclenet.check      the front door: anyone's GEMM, backprop, step or run; the pytest plugin
    oraclenet.cli        the `oraclenet` command; oraclenet.verify, the main job's report

Importing any of them changes no environment variable, starts no thread and initialises no
MPI: the command does its own process tuning (common/process.py). Importing oraclenet itself
loads nothing more: the names above are imported when first used.
"""

__all__ = ["Report", "agreed", "assert_gemm", "assert_grad", "assert_step", "check_gemm",
           "check_grad", "check_step"]


def __getattr__(name: str):
    if name == "agreed":
        from .check.mpi import agreed

        return agreed
    if name in __all__:
        from .check import assertions

        return getattr(assertions, name)
    raise AttributeError(f"module 'oraclenet' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(list(globals()) + __all__)
