"""The MPI suite: the trainers of oraclenet.parallel judged step by step at P ranks under
the real mpiexec. tests/mpi runs each check as a test (`mpiexec -n P python -m mpi4py -m
pytest --with-mpi tests/mpi`); `oraclenet verify` runs them all with
`mpiexec -n P python -m mpi4py -m oraclenet.corpus.mpi_suite OUT`.

Every step of an epoch is checked against the oracle's step from the same parameters, so
that roundoff cannot compound: the trainer's updated parameters and its loss must lie within
judge/bounds.py's first-order bounds of that step, for any rank count. The parameters are
the oracle's own trajectory (teacher forcing) or the trainer's own (free running, which also
checks what the trainer carries from one step to the next): see judge/steps.py. The planted
MPI bugs of corpus/mpi.py must each fail by teeth.min_bug_ratio or more; the bytes handed to
MPI per step must be the analytic count; the evaluation path must be the oracle's.

A check runs on every rank (its collectives need them all) and returns its Findings on rank
0, [] elsewhere.
"""

from __future__ import annotations

import argparse
import functools
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..common.data import synthetic
from ..common.params import init_params
from ..judge import evaluation
from ..judge.steps import in_dtype, judge, oracle_step, representable
from .suite import Finding, fact, failures, guarded, honest, planted, write

REG, LR = 1e-2, 0.5
# (images, batch, hidden): a batch of 7 that splits unevenly over 2, 3 and 4 ranks and
# leaves a last partial batch of 2; H = 5 on 4 ranks; a batch of 2 (P > batch for P > 2).
CASES = ((23, 7, 5), (8, 3, 6), (5, 2, 4))
STRATEGIES = ("data", "model")


def _strategy(name: str):
    from ..parallel.data_parallel import DataParallel
    from ..parallel.model_parallel import ModelParallel

    return {"data": DataParallel, "model": ModelParallel}[name]


def _on_device(dtype):
    """The --gpu arithmetic: the kernels of oraclenet.gpu with the naive GEMM (the GEMM
    family itself is the GPU suite's, and naive is the fastest in the simulator)."""
    from ..gpu.network import DeviceNetwork

    return functools.partial(DeviceNetwork, dtype=dtype, algorithm="naive")


def _trainer(comm, make, n, batch, H, seed=3, dtype=np.float64):
    data = in_dtype(synthetic(n, seed=seed), dtype)
    p0 = init_params(H, seed)
    rng = np.random.default_rng(seed)
    p0.b1 += 0.1 * rng.standard_normal(p0.b1.shape)
    p0.b2 += 0.1 * rng.standard_normal(p0.b2.shape)
    trainer = make(comm, p0, data if comm.rank == 0 else None, batch, REG, LR)
    return data, p0, trainer


def _epoch(comm, data, p0, trainer, steps=None, dtype=np.float64, teacher=True):
    """[(step, verdicts) ...] on rank 0, [] elsewhere: see judge/steps.py."""
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
            found.append((t, judge(got, J, p, data, start, stop, REG, LR, dtype).values()))
            p = oracle_step(p, data, start, stop, REG, LR, dtype) if teacher else got
    return found


def every_step(comm, make, n, batch, H, dtype=np.float64, teacher=True) -> list[Finding]:
    """All five verdicts of every step pass (and were all made)."""
    data, p0, trainer = _trainer(comm, make, n, batch, H, dtype=dtype)
    found = [f for t, verdicts in _epoch(comm, data, p0, trainer, dtype=dtype, teacher=teacher)
             for f in honest(f"step {t}", verdicts)]
    if comm.rank != 0:
        return []
    return [*found, fact("every verdict made", len(found) == 5 * trainer.n_batches,
                         f"{len(found)} verdicts for {trainer.n_batches} steps of five")]


def bug_caught(comm, make, steps=1, teacher=True) -> list[Finding]:
    """A planted bug fails the check by teeth.min_bug_ratio or more within `steps` steps."""
    data, p0, trainer = _trainer(comm, make, 23, 7, 5)
    found = _epoch(comm, data, p0, trainer, steps=steps, teacher=teacher)
    if comm.rank != 0:
        return []
    return [planted(f"within {steps} step{'s' * (steps > 1)}",
                    (v for _, verdicts in found for v in verdicts))]


def bytes_per_step(comm, strategy: str) -> list[Finding]:
    _, _, trainer = _trainer(comm, _strategy(strategy), 23, 7, 5)
    for t in range(trainer.n_batches):
        trainer.step(t)
    H, steps = 5, trainer.n_batches
    expected = (8 * (784 * H + H + 10 * H + 10 + 1) if strategy == "data"
                else 8 * (10 * 23 + steps) / steps)  # 10 B + 1 per step, B averaging 23/4
    got = trainer.bytes_per_step()
    return [fact("", got == expected, f"{got} bytes per step, the analytic count {expected}")
            ] if comm.rank == 0 else []


def evaluation_path(comm, strategy: str) -> list[Finding]:
    """Each rank's share of the training data is the oracle's (the scatter or the
    broadcast); the logits and the accuracy rank 0 reports, after an epoch, are the oracle's
    for the parameters the trainer holds (judge/evaluation.py)."""
    data, _, trainer = _trainer(comm, _strategy(strategy), 23, 7, 5)
    shares = comm.allgather(trainer.X)  # data: rows by batch share; model: every row
    verdicts = []
    if comm.rank == 0:
        mine = np.concatenate(shares) if strategy == "data" else shares[0]
        order = np.concatenate([np.arange(*trainer._share(t, r)) for r in range(comm.size)
                                for t in range(trainer.n_batches)]) if strategy == "data" \
            else np.arange(len(data))
        verdicts.append(evaluation.compare_data(mine, data.images[order]))
    for t in range(trainer.n_batches):
        trainer.step(t)
    p = trainer.gather_params()
    val = synthetic(11, seed=9)
    z2 = trainer.logits(val.images if comm.rank == 0 else None)
    accuracy = trainer.accuracy(val if comm.rank == 0 else None)
    if comm.rank != 0:
        return []
    return honest("", [*verdicts, evaluation.compare_logits(z2, p, val.X),
                       evaluation.compare_accuracy(accuracy, p, val.X, val.labels,
                                                   np.float64)])


@dataclass(frozen=True)
class Check:
    run: Callable  # run(comm) -> list[Finding] on rank 0
    min_ranks: int = 1  # on fewer ranks it says nothing new (one rank with --gpu: the GPU suite)
    gpu: bool = False  # runs simulated kernels: seconds a step without a GPU


@functools.cache
def checks() -> dict[str, Check]:
    """Every check by name, in report order."""
    from ..parallel.data_parallel import DataParallel
    from .mpi import MPI_BUGS, LastRankKeepsOldParameters

    found: dict[str, Check] = {}
    for teacher in (True, False):
        for strategy in STRATEGIES:
            for n, batch, H in CASES:
                found[f"every step/{strategy}/{n} images, batch {batch}, H {H}/"
                      f"{'teacher-forced' if teacher else 'free-running'}"] = Check(
                    functools.partial(every_step, make=_strategy(strategy), n=n, batch=batch,
                                      H=H, teacher=teacher))
    # --gpu: 9 images in batches of 7 and 2: uneven splits, ranks with no column at P = 3
    # and 4, and a second step from what the first left on the devices.
    for strategy in STRATEGIES:
        for dtype, teacher in ((np.float64, True), (np.float32, False)):
            make = functools.partial(_strategy(strategy), network=_on_device(dtype))
            found[f"every step with --gpu/{strategy}/{np.dtype(dtype).name} "
                  f"{'teacher-forced' if teacher else 'free-running'}"] = Check(
                functools.partial(every_step, make=make, n=9, batch=7, H=5, dtype=dtype,
                                  teacher=teacher), min_ranks=2, gpu=True)
    for bug, make in sorted(MPI_BUGS.items()):
        found[f"planted MPI bug/{bug}"] = Check(functools.partial(bug_caught, make=make),
                                                min_ranks=2)
    # The data-parallel bugs live in the strategy (the share of lambda W, the normaliser, the
    # columns taken), which the --gpu arithmetic shares, so they must be caught there too.
    for bug, make in sorted(MPI_BUGS.items()):
        if issubclass(make, DataParallel):
            found[f"planted MPI bug with --gpu/{bug}"] = Check(functools.partial(
                bug_caught, make=functools.partial(make, network=_on_device(np.float64))),
                min_ranks=2, gpu=True)
    found["planted MPI bug/a rank whose parameters drift, free-running"] = Check(
        functools.partial(bug_caught, make=LastRankKeepsOldParameters, steps=2,
                          teacher=False), min_ranks=2)
    for strategy in STRATEGIES:
        found[f"bytes per step/{strategy}"] = Check(functools.partial(bytes_per_step,
                                                                      strategy=strategy))
        found[f"evaluation path/{strategy}"] = Check(functools.partial(evaluation_path,
                                                                       strategy=strategy))
    return found


def run(comm, name: str) -> list[Finding]:
    """Check `name` on every rank; on rank 0 its findings, paths prefixed with its name and
    the rank count (suite.guarded: a rank that raised in the middle of a collective leaves the
    others waiting, and the caller's timeout ends them)."""
    found = guarded(f"{name}/P={comm.size}",  # a communicator of its own: its own byte count
                    lambda: checks()[name].run(type(comm)(comm.comm)), f"rank {comm.rank} ")
    return found if comm.rank == 0 else []


def unrun(findings: Iterable[Finding]) -> list[str]:
    """The checks that made no finding at any rank count: a check whose min_ranks no run
    reached says nothing, and must not read as a pass."""
    ran = {f.path.split("/P=", 1)[0] for f in findings}
    return [name for name in checks() if name not in ran]


def main(argv: list[str] | None = None) -> int:
    """Under mpiexec: every check that applies at this rank count, rank 0 writing the
    findings as JSON lines to OUT and a progress line per check; exit 1 when one fails."""
    from ..gpu.target import choose

    choose()  # --gpu checks: on the GPU, or in the simulator; before numba loads
    parser = argparse.ArgumentParser(prog="python -m oraclenet.corpus.mpi_suite")
    parser.add_argument("out", type=Path)
    parser.add_argument("--no-gpu", action="store_true",
                        help="leave out the checks that run the --gpu kernels")
    args = parser.parse_args(argv)
    from ..parallel.comm import Comm

    comm = Comm()
    names = [name for name, c in checks().items()
             if comm.size >= c.min_ranks and not (args.no_gpu and c.gpu)]
    found = []
    for i, name in enumerate(names, 1):
        mine = run(comm, name)
        found += mine
        if comm.rank == 0:
            print(f"[{i}/{len(names)}] {name}: {'FAIL' if failures(mine) else 'pass'}",
                  flush=True)
    if comm.rank == 0:
        write(args.out, found)
    return 1 if comm.comm.bcast(bool(failures(found))) else 0


if __name__ == "__main__":
    sys.exit(main())
