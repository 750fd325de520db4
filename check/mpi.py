"""A verdict agreed across MPI ranks: every rank fails together, with the failing rank's
message, instead of one rank raising while the others wait in their next collective.

    with agreed(comm):
        assert_gemm(C_local, A_local, B, ...)

Each rank runs the block; then all ranks exchange what happened (one allgather, which every
rank reaches whether its block passed or raised) and, if any rank failed, each raises the
same AssertionError naming the first failing rank and its message; its `findings` hold every
failing rank's, path "rank r", as the one failure record (judge/finding.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from ..judge.finding import Finding

__all__ = ["agreed"]


def _message(err: BaseException) -> str:
    if isinstance(err, AssertionError):
        return str(err)
    return f"{type(err).__name__}: {err}"


@contextmanager
def agreed(comm=None) -> Iterator[None]:
    """Run the block on every rank of comm (default MPI.COMM_WORLD); if it raised on any rank,
    raise AssertionError on all of them, naming the first failing rank and its message."""
    __tracebackhide__ = True
    if comm is None:
        from mpi4py import MPI

        comm = MPI.COMM_WORLD
    failure = None
    try:
        yield
    except Exception as err:  # any failure on this rank must reach the others
        failure = err
    said = comm.allgather(None if failure is None else _message(failure))
    found = [Finding(f"rank {r}", "FAIL", m, ok=False) for r, m in enumerate(said)
             if m is not None]
    if found:
        others = (f" (ranks {', '.join(f.path[5:] for f in found)} of {len(said)} failed)"
                  if len(found) > 1 else f" (of {len(said)} ranks)")
        error = AssertionError(f"{found[0].path}{others}: {found[0].text}")
        error.findings = found  # every failing rank's, as data (judge/finding.py)
        raise error from failure
