"""`oraclenet bench`: the oracle's epoch rate against numpy's own GEMM rate.

Both are measured in the same run on the same machine, interleaved: each round times one
training epoch of synthetic images and then large square float64 products for as long as the
epoch took, after a warm-up of each. An epoch counts common.shapes.flops_per_image per image
(the five products of a step); elementwise work is not counted: it is overhead the rate must
absorb. Each round also times a few plain steps (network.step) beside the trainer's
threaded ones (threaded.step, the same numbers), so that the bench shows whether the
threading pays on this machine.

The verdict compares the best epoch with the best product. Other tenants of a shared machine
only ever slow a measurement down, in bursts of a few seconds, so the fastest of several
timings is the estimate of what the machine itself does (timeit's rule); the same statistic
is taken of both rates, over windows of the same length, so that a burst is as likely to catch
either. The medians are reported beside it, with the BLAS that ran (threadpoolctl).
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..common.data import Dataset, synthetic
from ..common.params import Params, init_params
from ..common.process import blas_description
from ..common.shapes import flops_per_image
from . import network
from .train import train

PLAIN_STEPS_PER_ROUND = 8


@dataclass(frozen=True)
class Settings:
    images: int = 60000
    hidden: int = 1000
    batch: int = 800
    rounds: int = 10  # of one epoch and as long of GEMMs, after a warm-up
    square: int = 4096  # GEMM size
    target: float = 0.8  # required epoch rate as a fraction of the GEMM rate


def gemm_rate(A: np.ndarray, B: np.ndarray, C: np.ndarray, seconds: float) -> float:
    """GFLOP/s of n x n x n float64 products C = A B by numpy (its BLAS), repeated until they
    have run for `seconds` (once at least). C is given: fresh pages for it would be timed too
    (on a VM, a fault each as the host backs them)."""
    products, began = 0, time.perf_counter()
    while products == 0 or time.perf_counter() - began < seconds:
        np.matmul(A, B, out=C)
        products += 1
    return products * 2 * A.shape[0] ** 3 / (time.perf_counter() - began) / 1e9


def one_epoch(p: Params, data: Dataset, batch: int):
    """One training epoch of p (in place) on data (lr 0.1, lambda 1e-4), timed: a History."""
    return train(p, data, None, epochs=1, batch=batch, lr=0.1, reg=1e-4, progress=False)


def plain_steps(p: Params, data: Dataset, batch: int, count: int) -> list[float]:
    """Seconds of `count` full-batch network.step calls (the plain equations) on a copy of p."""
    p, seconds = p.copy(), []
    for t in range(count):
        X, Y = data.batch(t * batch, (t + 1) * batch)
        began = time.perf_counter()
        network.step(p, X, Y, 1e-4, 0.1)
        seconds.append(time.perf_counter() - began)
    return seconds


@dataclass
class Rates:
    """What the rounds measured: GFLOP/s of each GEMM window and of each epoch, and the
    seconds of every timed full-batch step, threaded (the trainer's) and plain."""

    gemm: list[float]
    epochs: list[float]
    steps: list[float]
    plain_steps: list[float]


def interleaved_rates(s: Settings) -> Rates:
    """Rounds of one epoch and then square products for as long as that epoch took, after a
    warm-up of each, so that both rates are taken over windows of the same length, in the
    same states of the machine; then a few plain steps."""
    rng = np.random.default_rng(0)
    A, B = rng.standard_normal((s.square, s.square)), rng.standard_normal((s.square, s.square))
    C = np.empty_like(A)
    data, p = synthetic(s.images, seed=0), init_params(s.hidden, 0)
    full_batches = s.images // s.batch
    epoch_flops = s.images * flops_per_image(s.hidden)
    gemm_rate(A, B, C, 0.0)
    one_epoch(p, data, s.batch)
    rates = Rates([], [], [], [])
    for _ in range(s.rounds):
        history = one_epoch(p, data, s.batch)
        seconds = history.epoch_seconds[0]
        rates.epochs.append(epoch_flops / seconds / 1e9)
        rates.steps += history.step_seconds[:full_batches]
        rates.gemm.append(gemm_rate(A, B, C, seconds))
        rates.plain_steps += plain_steps(p, data, s.batch, min(PLAIN_STEPS_PER_ROUND,
                                                                full_batches))
    return rates


def verdict(gemm: list[float], epochs: list[float], target: float) -> dict:
    """The bench's result: best and median of both rates, ratio = best epoch / best GEMM."""
    ratio = max(epochs) / max(gemm)
    return dict(gemm_gflops=gemm, gemm_best=max(gemm), gemm_median=statistics.median(gemm),
                epoch_gflops=epochs, epoch_best=max(epochs),
                epoch_median=statistics.median(epochs),
                ratio=ratio, ratio_of_medians=statistics.median(epochs) / statistics.median(gemm),
                target=target, passed=ratio >= target)


def run(s: Settings) -> dict:
    """Measure, and return the result (the --json record)."""
    if s.images < s.batch:
        raise ValueError(f"--images {s.images} is less than one batch (-b {s.batch})")
    rates = interleaved_rates(s)
    result = dict(asdict(s), machine=platform.processor() or platform.machine(),
                  cores=os.cpu_count(), numpy=np.__version__, blas=blas_description(),
                  **verdict(rates.gemm, rates.epochs, s.target))
    result["images_per_second"] = result["epoch_median"] * 1e9 / flops_per_image(s.hidden)
    # the fastest step: what the code does when nothing else on the host gets in the way
    step_flops = s.batch * flops_per_image(s.hidden)
    result.update(step_seconds_fastest=min(rates.steps),
                  step_seconds_median=statistics.median(rates.steps),
                  fastest_step_ratio=step_flops / min(rates.steps) / 1e9 / result["gemm_best"],
                  plain_step_seconds_median=statistics.median(rates.plain_steps),
                  plain_step_seconds_fastest=min(rates.plain_steps))
    result["threaded_speedup"] = (result["plain_step_seconds_median"]
                                  / result["step_seconds_median"])
    return result


def report(result: dict) -> str:
    """The bench's lines for the terminal."""
    r = result
    verdict_word = "meets" if r["passed"] else "MISSES"
    return "\n".join([
        f"numpy {r['numpy']} on {r['machine']}, {r['cores']} cores; BLAS: {r['blas']}",
        f"numpy GEMM {r['square']}^3 float64:       best {r['gemm_best']:6.1f}, "
        f"median {r['gemm_median']:6.1f} GFLOP/s ({len(r['gemm_gflops'])} windows)",
        f"oracle epoch, {r['images']} images, H={r['hidden']}, B={r['batch']}: "
        f"best {r['epoch_best']:6.1f}, median {r['epoch_median']:6.1f} GFLOP/s "
        f"({len(r['epoch_gflops'])} epochs), {r['images_per_second']:,.0f} images/s",
        f"steps of {r['batch']} images: fastest {r['step_seconds_fastest'] * 1e3:.1f} ms "
        f"({r['fastest_step_ratio']:.1%} of the best GEMM), median "
        f"{r['step_seconds_median'] * 1e3:.1f} ms; plain network.step: median "
        f"{r['plain_step_seconds_median'] * 1e3:.1f} ms (threaded / plain speed: "
        f"{r['threaded_speedup']:.2f}x)",
        f"best epoch / best GEMM = {r['ratio']:.1%}: {verdict_word} the target of "
        f"{r['target']:.0%} (median / median {r['ratio_of_medians']:.1%})"])


def images_per_second(images: int, hidden: int, batch: int, rounds: int,
                      cores: int | None = None, timeout: float = 1800) -> float:
    """The oracle's images/s, measured by `oraclenet bench` in a process of its own with
    numpy's default BLAS threads, on the first `cores` CPUs of this one's (all by default)."""
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
    cpus = sorted(os.sched_getaffinity(0))[:cores] if cores else None
    with tempfile.TemporaryDirectory() as tmp:
        out = subprocess.run([sys.executable, "-m", "oraclenet", "bench", "--images",
                              str(images), "-n", str(hidden), "-b", str(batch), "--rounds",
                              str(rounds), "--square", "1024", "--target", "1e-9", "--json",
                              f"{tmp}/oracle.json"], capture_output=True, text=True, env=env,
                             timeout=timeout,
                             preexec_fn=None if cpus is None else
                             lambda: os.sched_setaffinity(0, cpus))
        if out.returncode != 0:
            raise RuntimeError(f"oraclenet bench failed:\n{out.stderr[-2000:]}")
        return json.loads(Path(f"{tmp}/oracle.json").read_text())["images_per_second"]
