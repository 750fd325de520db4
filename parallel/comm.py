"""MPI plumbing: a communicator that counts the bytes handed to MPI, and collective agreement
on errors so that a failure on one rank ends every rank instead of leaving them waiting.

mpi4py initialises MPI when mpi4py.MPI is first imported, so it is imported here only when a
communicator is made, never when the package is.
"""

from __future__ import annotations

import time
from collections import Counter
from contextlib import contextmanager

import numpy as np


class RankError(RuntimeError):
    """Raised on every rank when any rank failed; the message names the failing ranks."""


def _ranks(ranks: list[int]) -> str:
    return f"rank{'s' if len(ranks) > 1 else ''} {', '.join(map(str, ranks))}"


class Comm:
    """COMM_WORLD (or another communicator) with per-kind byte counts of what is sent."""

    def __init__(self, comm=None):
        from mpi4py import MPI

        self._in_place, self._sum = MPI.IN_PLACE, MPI.SUM
        self.comm = MPI.COMM_WORLD if comm is None else comm
        self.rank, self.size = self.comm.Get_rank(), self.comm.Get_size()
        self.sent: Counter[str] = Counter()
        self.seconds: Counter[str] = Counter()
        self.waiting: str | None = None  # the collective this rank is in, for the watchdog

    @contextmanager
    def waiting_in(self, kind: str):
        """Mark the collective this rank is about to wait in."""
        self.waiting = kind
        try:
            yield
        finally:
            self.waiting = None

    def bcast(self, obj, root: int = 0):
        with self.waiting_in("bcast"):
            return self.comm.bcast(obj, root)

    def allgather(self, obj) -> list:
        with self.waiting_in("allgather"):
            return self.comm.allgather(obj)

    def allreduce_sum(self, buffer: np.ndarray, kind: str = "allreduce") -> np.ndarray:
        """Sum buffer over all ranks, in place, and count its bytes and the time it took."""
        self.sent[kind] += buffer.nbytes
        began = time.perf_counter()
        with self.waiting_in(f"allreduce ({kind})"):
            self.comm.Allreduce(self._in_place, buffer, op=self._sum)
        self.seconds[kind] += time.perf_counter() - began
        return buffer

    def bcast_array(self, array: np.ndarray | None, root: int = 0) -> np.ndarray:
        """Broadcast an array from root (shape and dtype travel first)."""
        meta = self.bcast(None if array is None else (array.shape, array.dtype.str), root)
        out = np.ascontiguousarray(array) if self.rank == root else np.empty(meta[0], meta[1])
        self.sent["setup"] += out.nbytes if self.rank == root else 0
        with self.waiting_in("bcast"):
            self.comm.Bcast(out, root=root)
        return out

    def scatter_rows(self, rows: list[np.ndarray] | None, root: int = 0) -> np.ndarray:
        """Rank r receives rows[r] (root passes one C-contiguous array per rank, same dtype
        and trailing shape)."""
        meta = self.bcast(None if rows is None else
                               ([r.shape[0] for r in rows], rows[0].shape[1:], rows[0].dtype.str),
                               root)
        counts, tail, dtype = meta
        width = int(np.prod(tail, dtype=np.int64))
        out = np.empty((counts[self.rank], *tail), dtype)
        send = None
        if self.rank == root:
            flat = np.concatenate([np.ascontiguousarray(r).reshape(-1) for r in rows])
            sizes = [c * width for c in counts]
            send = [flat, (sizes, np.concatenate([[0], np.cumsum(sizes)[:-1]]).tolist())]
            self.sent["setup"] += flat.nbytes
        with self.waiting_in("scatter"):
            self.comm.Scatterv(send, out, root=root)
        return out

    def gather_rows(self, local: np.ndarray, counts: list[int], root: int = 0
                    ) -> np.ndarray | None:
        """Stack every rank's rows (rank r has counts[r] of them, same width) on root."""
        full = (np.empty((sum(counts), *local.shape[1:]), local.dtype)
                if self.rank == root else None)
        width = int(np.prod(local.shape[1:], dtype=np.int64))
        with self.waiting_in("gather"):
            self.comm.Gatherv(np.ascontiguousarray(local), None if full is None else
                              [full, [c * width for c in counts]], root=root)
        return full

    def agree(self, error: str | None) -> None:
        """Collective: raise RankError on every rank if any rank passes an error message."""
        errors = self.allgather(error)
        by_message: dict[str, list[int]] = {}
        for r, e in enumerate(errors):
            if e is not None:
                by_message.setdefault(e, []).append(r)
        if by_message:
            raise RankError("; ".join(
                f"{'every rank' if len(ranks) == self.size > 1 else _ranks(ranks)}: {e}"
                for e, ranks in by_message.items()))
