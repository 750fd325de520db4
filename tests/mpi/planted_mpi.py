"""MPI bugs planted on purpose: each subclass changes one method of a correct trainer."""


from oraclenet.parallel.data_parallel import DataParallel
from oraclenet.parallel.model_parallel import ModelParallel


class RegularisationOnEveryRank(DataParallel):
    """lambda W added to each rank's part before the allreduce: P lambda W in total."""

    def l2_share(self):
        return self.lam


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


MPI_BUGS = {
    "regularisation added on every rank": RegularisationOnEveryRank,
    "gradient normalised by the local batch": LocalBatchNormaliser,
    "last rank's columns dropped in an uneven split": LastRankDropped,
    "b2's gradient summed over ranks": B2SummedOverRanks,
}
