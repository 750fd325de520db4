"""The MPI trainers' arithmetic, run in one process: P threads, each one rank of the real
strategy classes (parallel/), talking through ThreadComm instead of MPI. Every rank sums a
reduction's contributions in rank order, so all ranks agree as they do under MPI; the order
differs from MPICH's, which only changes roundoff. What the corpus measures is the judge on
the numbers the strategies produce; tests/mpi runs the same classes under the real mpiexec.

Planted MPI bugs subclass a strategy and change one method (as tests/mpi does), plus a bug
that one rank of four makes.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from contextlib import contextmanager

import numpy as np

from ..common.data import Dataset
from ..common.params import Params
from ..parallel.data_parallel import DataParallel
from ..parallel.model_parallel import ModelParallel
from ..parallel.trainer import Trainer


class World:
    """What P ranks share: a barrier and one slot per rank."""

    def __init__(self, size: int):
        self.size = size
        self.barrier = threading.Barrier(size, timeout=120)
        self.slots: list = [None] * size

    def exchange(self, rank: int, value) -> list:
        """Every rank's value, in rank order, on every rank (collective)."""
        self.slots[rank] = value
        self.barrier.wait()
        values = list(self.slots)
        self.barrier.wait()  # nobody writes the next exchange before all have read
        return values


class ThreadComm:
    """parallel.comm.Comm's interface for one rank of a World."""

    def __init__(self, world: World, rank: int):
        self.world, self.rank, self.size = world, rank, world.size
        self.sent: Counter[str] = Counter()
        self.seconds: Counter[str] = Counter()
        self.waiting: str | None = None

    @contextmanager
    def waiting_in(self, kind: str):
        yield

    def allreduce_sum(self, buffer: np.ndarray, kind: str = "allreduce") -> np.ndarray:
        self.sent[kind] += buffer.nbytes
        parts = self.world.exchange(self.rank, buffer.copy())
        total = parts[0].copy()
        for part in parts[1:]:
            total += part
        buffer[...] = total
        return buffer

    def bcast(self, obj, root: int = 0):
        return self.world.exchange(self.rank, obj if self.rank == root else None)[root]

    def bcast_array(self, array, root: int = 0) -> np.ndarray:
        return np.array(self.bcast(array, root), copy=True)

    def scatter_rows(self, rows, root: int = 0) -> np.ndarray:
        return np.array(self.bcast(rows, root)[self.rank], copy=True)

    def allgather(self, obj) -> list:
        return self.world.exchange(self.rank, obj)

    def gather_rows(self, local: np.ndarray, counts: list[int], root: int = 0):
        parts = self.world.exchange(self.rank, local.copy())
        return np.concatenate(parts) if self.rank == root else None

    def agree(self, error: str | None) -> None:
        errors = [e for e in self.allgather(error) if e is not None]
        if errors:
            raise RuntimeError("; ".join(errors))


def run_ranks(size: int, work: Callable[[ThreadComm], object]) -> list:
    """work(comm) on `size` threads, one rank each; every rank's result, in rank order. A
    failure on one rank breaks the barrier, so the others fail too instead of waiting."""
    world = World(size)
    results: list = [None] * size
    errors: list[BaseException] = []

    def rank(r: int) -> None:
        try:
            results[r] = work(ThreadComm(world, r))
        except BaseException as err:
            errors.append(err)
            world.barrier.abort()

    threads = [threading.Thread(target=rank, args=(r,)) for r in range(size)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return results


# --- bugs --------------------------------------------------------------------------------------

class RegularisationOnEveryRank(DataParallel):
    """lambda W added to each rank's part before the allreduce: P lambda W in total."""

    def l2_share(self):
        return self.reg


class LocalBatchNormaliser(DataParallel):
    """The data term averaged over this rank's share instead of the global batch."""

    def normaliser(self, local, batch):
        return local


class LastRankDropped(DataParallel):
    """In an uneven split the last rank's columns are left out."""

    def local_columns(self, t):
        lo, hi = super().local_columns(t)
        start, stop = self.batch_span(t)
        if (stop - start) % self.comm.size and self.comm.rank == self.comm.size - 1:
            return lo, lo
        return lo, hi


class B2SummedOverRanks(ModelParallel):
    """db2, already complete on every rank, summed over the ranks: P times too large (on the
    host: numpy's gradients are host arrays)."""

    def reduce_gradients(self):
        self.comm.allreduce_sum(self.net.grads.b2, "step")


class LastRankKeepsOldParameters(DataParallel):
    """The last rank never applies the update, so its parameters drift from rank 0's. Teacher
    forcing cannot see this (it sets every rank's parameters before each step); free running
    must."""

    def apply_update(self):
        if self.comm.rank != self.comm.size - 1:
            super().apply_update()


class RankTwoCountsItselfTwice(DataParallel):
    """One rank of four (rank 2) adds its share of the gradient twice."""

    def local_gradient(self, lo, hi, batch):
        super().local_gradient(lo, hi, batch)
        if self.comm.rank == 2:
            self.buffer[:-1] *= 2


MPI_BUGS = {
    "regularisation added on every rank": RegularisationOnEveryRank,
    "gradient normalised by the local batch": LocalBatchNormaliser,
    "last rank's columns dropped in an uneven split": LastRankDropped,
    "b2's gradient summed over ranks": B2SummedOverRanks,
}
STRATEGIES = {"data": DataParallel, "model": ModelParallel}


def cause(bug: str, ranks: int) -> str | None:
    """The cause judge/diagnose_network.py must name for an MPI bug at P ranks (None:
    outside its catalogue: a different error on each rank's share)."""
    if bug == "regularisation added on every rank":
        return "L2 term doubled" if ranks == 2 else "L2 term scaled"
    return {"b2's gradient summed over ranks": "update scaled"}.get(bug)


def trajectory(strategy: type[Trainer], comm, data: Dataset, p0: Params, batch: int,
               reg: float, lr: float, steps: int, teacher: bool, step_of_oracle: Callable
               ) -> list[tuple[int, Params, float, Params]] | None:
    """On every rank: run `steps` steps; on rank 0 return (t, parameters before, J, after)
    for each step, the parameters before being the oracle's (teacher forcing) or the
    trainer's own (free running)."""
    trainer = strategy(comm, p0, data if comm.rank == 0 else None, batch, reg, lr)
    p, found = p0, []
    for t in range(min(steps, trainer.n_batches)):
        if teacher:
            trainer.set_params(comm.bcast(p))
        J = trainer.step(t)
        after = trainer.gather_params()
        if comm.rank == 0:
            found.append((t, p, J, after))
            p = step_of_oracle(p, t) if teacher else after
    return found if comm.rank == 0 else None
