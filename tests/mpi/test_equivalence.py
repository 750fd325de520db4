"""Run under MPI: `mpiexec -n P python -m mpi4py -m pytest --with-mpi tests/mpi`, P = 1..4.

Every step of an epoch is checked against the oracle's step from the same parameters, so
that roundoff cannot compound: the trainer's updated parameters and its loss must lie within
judge/bounds.py's first-order bounds of that step, for any rank count. The parameters are
the oracle's own trajectory (teacher forcing) or the trainer's own (free running, which also
checks what the trainer carries from one step to the next): see judge/steps.py.
"""

import functools

import numpy as np
import pytest

from oraclenet.common.data import synthetic
from oraclenet.common.params import init_params
from oraclenet.corpus.mpi import MPI_BUGS, LastRankKeepsOldParameters
from oraclenet.gpu.network import DeviceNetwork
from oraclenet.judge import evaluation
from oraclenet.judge.steps import in_dtype, judge, oracle_step, representable
from oraclenet.judge.tolerances import tolerance
from oraclenet.parallel.comm import Comm
from oraclenet.parallel.data_parallel import DataParallel
from oraclenet.parallel.model_parallel import ModelParallel
from tests import ratios

STRATEGIES = {"data": DataParallel, "model": ModelParallel}
REG, LR = 1e-2, 0.5
# (images, batch, hidden): a batch of 7 that splits unevenly over 2, 3 and 4 ranks and
# leaves a last partial batch of 2; H = 5 on 4 ranks; a batch of 2 (P > batch for P > 2).
CASES = [(23, 7, 5), (8, 3, 6), (5, 2, 4)]


def on_device(dtype):
    """The --gpu arithmetic: the kernels of oraclenet.gpu with the naive GEMM (the GEMM family
    itself is tested in tests/gpu, and naive is the fastest in the simulator)."""
    return functools.partial(DeviceNetwork, dtype=dtype, algorithm="naive")


def make_trainer(strategy_class, n, batch, H, seed=3, dtype=np.float64):
    comm = Comm()
    data = in_dtype(synthetic(n, seed=seed), dtype)
    p0 = init_params(H, seed)
    rng = np.random.default_rng(seed)
    p0.b1 += 0.1 * rng.standard_normal(p0.b1.shape)
    p0.b2 += 0.1 * rng.standard_normal(p0.b2.shape)
    trainer = strategy_class(comm, p0, data if comm.rank == 0 else None, batch, REG, LR)
    return comm, data, p0, trainer


def epoch_verdicts(comm, data, p0, trainer, steps=None, dtype=np.float64, teacher=True):
    """[(step, verdict) ...] on rank 0, [] elsewhere: see judge/steps.py."""
    p = representable(p0, dtype)
    trainer.set_params(p)
    found = []
    for t in range(trainer.n_batches if steps is None else steps):
        start, stop = trainer.batch_span(t)
        if teacher:
            trainer.set_params(comm.comm.bcast(p))  # rank 0's oracle, the same everywhere
        J = trainer.step(t)
        got = trainer.gather_params()
        if comm.rank == 0:
            found += [(t, v) for v in judge(got, J, p, data, start, stop, REG, LR,
                                            dtype).values()]
            p = oracle_step(p, data, start, stop, REG, LR, dtype) if teacher else got
    return found


def agreed(comm, ok: bool, message: str) -> None:
    """Rank 0 judges; every rank asserts the same outcome, so no rank is left waiting."""
    ok, message = comm.comm.bcast((ok, message))
    assert ok, message


def every_step_passes(comm, data, p0, trainer, label: str, dtype=np.float64,
                      teacher=True) -> None:
    """All five verdicts of every step pass (and were all made)."""
    found = epoch_verdicts(comm, data, p0, trainer, dtype=dtype, teacher=teacher)
    ratios.record((v for _, v in found), bug=False)
    bad = [f"step {t}: {v}" for t, v in found if not v.passed]
    agreed(comm, not bad and (comm.rank != 0 or len(found) == 5 * trainer.n_batches),
           f"{label}:\n" + "\n".join(bad))


@pytest.mark.mpi
@pytest.mark.parametrize("teacher", [True, False], ids=["teacher-forced", "free-running"])
@pytest.mark.parametrize("strategy", sorted(STRATEGIES))
@pytest.mark.parametrize(("n", "batch", "H"), CASES)
def test_every_step_of_an_epoch_matches_the_oracle(strategy, n, batch, H, teacher):
    comm, data, p0, trainer = make_trainer(STRATEGIES[strategy], n, batch, H)
    every_step_passes(comm, data, p0, trainer, f"{strategy} on {comm.size} ranks",
                      teacher=teacher)


@pytest.mark.mpi(min_size=2)  # on one rank it is the device trainer alone: tests/gpu
@pytest.mark.parametrize(("dtype", "teacher"), [(np.float64, True), (np.float32, False)],
                         ids=["float64-teacher-forced", "float32-free-running"])
@pytest.mark.parametrize("strategy", sorted(STRATEGIES))
def test_gpu_trainers_every_step_of_an_epoch_matches_the_oracle(strategy, dtype, teacher):
    """--gpu: the same checks with the kernels of gpu/ (the naive GEMM: the GEMM family
    itself is tested in tests/gpu, and it is the fastest in the simulator). 9 images in
    batches of 7 and 2: uneven splits, ranks with no column at P = 3 and 4, and a second step
    from what the first left on the devices."""
    make = functools.partial(STRATEGIES[strategy], network=on_device(dtype))
    comm, data, p0, trainer = make_trainer(make, 9, 7, 5, dtype=dtype)
    every_step_passes(comm, data, p0, trainer,
                      f"--gpu {strategy} in {np.dtype(dtype)} on {comm.size} ranks", dtype,
                      teacher)


@pytest.mark.mpi(min_size=2)
@pytest.mark.parametrize("bug", sorted(MPI_BUGS))
def test_planted_bug_is_caught(bug):
    bug_is_caught(MPI_BUGS[bug], f"{bug} on {Comm().size} ranks")


@pytest.mark.mpi(min_size=2)
@pytest.mark.parametrize("bug", sorted(b for b, c in MPI_BUGS.items()
                                       if issubclass(c, DataParallel)))
def test_planted_data_parallel_bug_is_caught_with_gpu_kernels(bug):
    """The data-parallel bugs live in the strategy (the share of lambda W, the normaliser,
    the columns taken), which the --gpu arithmetic shares, so they must be caught there too."""
    bug_is_caught(functools.partial(MPI_BUGS[bug], network=on_device(np.float64)),
                  f"--gpu: {bug} on {Comm().size} ranks")


@pytest.mark.mpi(min_size=2)
def test_free_running_catches_a_rank_whose_parameters_drift():
    bug_is_caught(LastRankKeepsOldParameters, f"a stale last rank on {Comm().size} ranks",
                  steps=2, teacher=False)


def bug_is_caught(make, label: str, steps=1, teacher=True) -> None:
    """A planted bug fails the check by min_bug_ratio or more within `steps` steps."""
    comm, data, p0, trainer = make_trainer(make, 23, 7, 5)
    found = epoch_verdicts(comm, data, p0, trainer, steps=steps, teacher=teacher)
    worst = ratios.worst(v for _, v in found).ratio if found else 0.0
    agreed(comm, comm.rank != 0 or worst >= tolerance("teeth.min_bug_ratio"),
           f"{label}: worst ratio only {worst:.3g}")


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


@pytest.mark.mpi
@pytest.mark.parametrize("strategy", sorted(STRATEGIES))
def test_the_evaluation_path_matches_the_oracles(strategy):
    """Each rank's share of the training data is the oracle's (the scatter or the broadcast);
    the logits and the accuracy rank 0 reports, after an epoch, are the oracle's for the
    parameters the trainer holds (judge/evaluation.py)."""
    comm, data, _, trainer = make_trainer(STRATEGIES[strategy], 23, 7, 5)
    shares = comm.allgather(trainer.X)  # data: rows by batch share; model: every row
    bad = []
    if comm.rank == 0:
        mine = np.concatenate(shares) if strategy == "data" else shares[0]
        order = np.concatenate([np.arange(*trainer._share(t, r)) for r in range(comm.size)
                                for t in range(trainer.n_batches)]) if strategy == "data" \
            else np.arange(len(data))
        bad.append(evaluation.compare_data(mine, data.images[order]))
    for t in range(trainer.n_batches):
        trainer.step(t)
    p = trainer.gather_params()
    val = synthetic(11, seed=9)
    z2 = trainer.logits(val.images if comm.rank == 0 else None)
    accuracy = trainer.accuracy(val if comm.rank == 0 else None)
    if comm.rank == 0:
        bad += [evaluation.compare_logits(z2, p, val.X),
                evaluation.compare_accuracy(accuracy, p, val.X, val.labels, np.float64)]
    ratios.record(bad, bug=False)
    agreed(comm, all(v.passed for v in bad), "\n".join(str(v) for v in bad if not v.passed))
