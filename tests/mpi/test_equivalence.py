"""Run under MPI: `mpiexec -n P python -m mpi4py -m pytest --with-mpi tests/mpi`, P = 1..4.

Every step of an epoch is checked from the oracle's own parameters (teacher forcing), so
that roundoff cannot compound: the trainer's updated parameters and its loss must lie
within reference/bounds.py's first-order bounds of the oracle's step, for any rank count.
"""

import numpy as np
import pytest
from planted_mpi import MPI_BUGS

from parallel.comm import Comm
from parallel.data_parallel import DataParallel
from parallel.model_parallel import ModelParallel
from reference import bounds, network
from reference.data import synthetic
from reference.params import Params, init_params
from reference.tolerances import tolerance

STRATEGIES = {"data": DataParallel, "model": ModelParallel}
LAM, LR = 1e-2, 0.5
# (images, batch, hidden): a batch of 7 that splits unevenly over 2, 3 and 4 ranks and
# leaves a last partial batch of 2; H = 5 on 4 ranks; a batch of 2 (P > batch for P > 2).
CASES = [(23, 7, 5), (8, 3, 6), (5, 2, 4)]


def make_trainer(strategy_class, n, batch, H, seed=3):
    comm = Comm()
    data = synthetic(n, seed=seed)
    p0 = init_params(H, seed)
    rng = np.random.default_rng(seed)
    p0.b1 += 0.1 * rng.standard_normal(p0.b1.shape)
    p0.b2 += 0.1 * rng.standard_normal(p0.b2.shape)
    trainer = strategy_class(comm, p0, data if comm.rank == 0 else None, batch, LAM, LR)
    return comm, data, p0, trainer


def epoch_verdicts(comm, data, p0, trainer, steps=None):
    """Teacher-forced epoch: [(step, verdict) ...] on rank 0, [] elsewhere."""
    oracle = p0
    found = []
    for t in range(trainer.n_batches if steps is None else steps):
        trainer.set_params(oracle)
        J = trainer.step(t)
        got = trainer.gather_params()
        if comm.rank == 0:
            X, Y = data.batch(*trainer.batch_span(t))
            found += [(t, v) for v in bounds.compare_step(got, oracle, X, Y, LAM, LR).values()]
            found.append((t, bounds.compare_loss(J, oracle, X, Y, LAM, np.float64)))
            grad = network.backward(oracle, X, Y, LAM)
            oracle = Params(*(a - LR * g for a, g in zip(oracle.blocks().values(),
                                                         grad.blocks().values(), strict=True)))
        oracle = comm.comm.bcast(oracle)
    return found


def agreed(comm, ok: bool, message: str) -> None:
    """Rank 0 judges; every rank asserts the same outcome, so no rank is left waiting."""
    ok, message = comm.comm.bcast((ok, message))
    assert ok, message


@pytest.mark.mpi
@pytest.mark.parametrize("strategy", sorted(STRATEGIES))
@pytest.mark.parametrize(("n", "batch", "H"), CASES)
def test_every_step_of_an_epoch_matches_the_oracle(strategy, n, batch, H):
    comm, data, p0, trainer = make_trainer(STRATEGIES[strategy], n, batch, H)
    found = epoch_verdicts(comm, data, p0, trainer)
    bad = [f"step {t}: {v}" for t, v in found if not v.passed]
    agreed(comm, not bad and (comm.rank != 0 or len(found) == 5 * trainer.n_batches),
           f"{strategy} on {comm.size} ranks:\n" + "\n".join(bad))


@pytest.mark.mpi(min_size=2)
@pytest.mark.parametrize("bug", sorted(MPI_BUGS))
def test_planted_bug_is_caught(bug):
    comm, data, p0, trainer = make_trainer(MPI_BUGS[bug], 23, 7, 5)
    found = epoch_verdicts(comm, data, p0, trainer, steps=1)
    worst = max((v.ratio for _, v in found), default=0.0)
    agreed(comm, comm.rank != 0 or worst >= tolerance("teeth.min_bug_ratio"),
           f"{bug} on {comm.size} ranks: worst ratio only {worst:.3g}")


@pytest.mark.mpi
@pytest.mark.parametrize("strategy", sorted(STRATEGIES))
def test_bytes_per_step_match_the_analytic_count(strategy):
    comm, _, _, trainer = make_trainer(STRATEGIES[strategy], 23, 7, 5)
    for t in range(trainer.n_batches):
        trainer.step(t)
    H, steps = 5, trainer.n_batches
    expected = (8 * (784 * H + H + 10 * H + 10 + 1) if strategy == "data"
                else 8 * (10 * 23 + steps) / steps)  # 10 B + 1 per step, B averaging 23/4
    agreed(comm, trainer.bytes_per_step() == expected,
           f"{strategy}: {trainer.bytes_per_step()} bytes per step, expected {expected}")
