"""An alpha-beta model of one training step, for both strategies.

    T(P) = W / (min(P, cores) R)  +  T_allreduce(P, n)
    T_allreduce(P, n) = 2 (P - 1) alpha + 2 (P - 1) / P * n * beta     (ring allreduce)

W: flops per step (4 * 784 * H + 60 * H per image), R: the measured flop rate of one rank,
n: bytes allreduced per step, 8 (795 H + 11) for data parallelism and 8 (10 B + 1) for model
parallelism. Model parallelism has work for at most H ranks, data parallelism for at most B:
ranks beyond that (or beyond the cores) add communication, not compute.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from ..common.shapes import N_CLASSES, flops_per_image, n_parameters


@dataclass(frozen=True)
class Machine:
    alpha: float  # seconds per message
    beta: float  # seconds per byte
    rate: float  # flops per second of one rank
    cores: int  # ranks that can compute at once

    def as_dict(self) -> dict:
        return asdict(self)


def step_bytes(strategy: str, hidden: int, batch: int) -> int:
    """Bytes each rank hands to the allreduce per step (the loss rides along)."""
    if strategy == "data":
        return 8 * (n_parameters(hidden) + 1)
    return 8 * (N_CLASSES * batch + 1)


def allreduce_seconds(machine: Machine, ranks: int, nbytes: int) -> float:
    if ranks == 1:
        return 0.0
    return 2 * (ranks - 1) * machine.alpha + 2 * (ranks - 1) / ranks * nbytes * machine.beta


def step_seconds(machine: Machine, strategy: str, ranks: int, hidden: int, batch: int) -> float:
    workers = min(ranks, machine.cores, max_ranks(strategy, hidden, batch))
    compute = batch * flops_per_image(hidden) / (workers * machine.rate)
    return compute + allreduce_seconds(machine, ranks, step_bytes(strategy, hidden, batch))


def max_ranks(strategy: str, hidden: int, batch: int) -> int:
    return hidden if strategy == "model" else batch


def speedup(machine: Machine, strategy: str, ranks: int, hidden: int, batch: int) -> float:
    return (step_seconds(machine, strategy, 1, hidden, batch)
            / step_seconds(machine, strategy, ranks, hidden, batch))
