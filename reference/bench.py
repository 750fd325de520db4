"""`python -m reference bench`: the oracle's epoch rate against numpy's own GEMM rate.

Both are measured in the same run on the same machine, interleaved: each round times one
training epoch of synthetic images and then large square float64 products for as long as the
epoch took, after a warm-up of each. An epoch counts 4 * 784 * H + 60 * H flops per image:
the two products with W1-sized operands (z1 and dW1) and the three with W2-sized ones (z2,
dW2, da1), at two flops per multiply-add. Elementwise work is not counted: it is overhead
the rate must absorb.

The verdict compares the best epoch with the best product. Other tenants of a shared machine
only ever slow a measurement down, in bursts of a few seconds, so the fastest of several
timings is the estimate of what the machine itself does (timeit's rule); the same statistic
is taken of both rates, over windows of the same length, so that a burst is as likely to catch
either. The medians are reported beside it.
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
from pathlib import Path

import numpy as np

from reference.data import Dataset, synthetic
from reference.files import write_json
from reference.params import Params, init_params
from reference.train import History, train


def flops_per_image(hidden: int) -> int:
    return 4 * 784 * hidden + 60 * hidden


def gemm_rate(A: np.ndarray, B: np.ndarray, C: np.ndarray, seconds: float) -> float:
    """GFLOP/s of n x n x n float64 products C = A B by numpy (its BLAS), repeated until they
    have run for `seconds` (once at least). C is given: fresh pages for it would be timed too
    (on a VM, a fault each as the host backs them)."""
    products, began = 0, time.perf_counter()
    while products == 0 or time.perf_counter() - began < seconds:
        np.matmul(A, B, out=C)
        products += 1
    return products * 2 * A.shape[0] ** 3 / (time.perf_counter() - began) / 1e9


def one_epoch(p: Params, data: Dataset, batch: int) -> History:
    """One training epoch of p (in place) on data (lr 0.1, lambda 1e-4), timed."""
    return train(p, data, None, epochs=1, batch=batch, lr=0.1, lam=1e-4, progress=False)


def interleaved_rates(square: int, images: int, hidden: int, batch: int, rounds: int,
                      ) -> tuple[list[float], list[float], list[float]]:
    """(GEMM rates, epoch rates, seconds of every timed full-batch step): rounds of one epoch
    and then square products for as long as that epoch took, after a warm-up of each, so that
    both rates are taken over windows of the same length, in the same states of the machine."""
    rng = np.random.default_rng(0)
    A, B = rng.standard_normal((square, square)), rng.standard_normal((square, square))
    C = np.empty_like(A)
    data, p = synthetic(images, seed=0), init_params(hidden, 0)
    epoch_flops = images * flops_per_image(hidden)
    gemm_rate(A, B, C, 0.0)
    one_epoch(p, data, batch)
    gemm, epochs, steps = [], [], []
    for _ in range(rounds):
        history = one_epoch(p, data, batch)
        seconds = history.epoch_seconds[0]
        epochs.append(epoch_flops / seconds / 1e9)
        steps += history.step_seconds[:images // batch]
        gemm.append(gemm_rate(A, B, C, seconds))
    return gemm, epochs, steps


def verdict(gemm: list[float], epochs: list[float], target: float) -> dict:
    """The bench's result: best and median of both rates, ratio = best epoch / best GEMM."""
    ratio = max(epochs) / max(gemm)
    return dict(gemm_gflops=gemm, gemm_best=max(gemm), gemm_median=statistics.median(gemm),
                epoch_gflops=epochs, epoch_best=max(epochs),
                epoch_median=statistics.median(epochs),
                ratio=ratio, ratio_of_medians=statistics.median(epochs) / statistics.median(gemm),
                target=target, passed=ratio >= target)


def images_per_second(images: int, hidden: int, batch: int, epochs: int,
                      cores: int | None = None, timeout: float = 1800) -> float:
    """The oracle's images/s, measured by this command in a process of its own with numpy's
    default BLAS threads, on the first `cores` CPUs of this one's (all of them by default)."""
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
    cpus = sorted(os.sched_getaffinity(0))[:cores] if cores else None
    with tempfile.TemporaryDirectory() as tmp:
        out = subprocess.run([sys.executable, "-m", "reference", "bench", "--images",
                              str(images), "-n", str(hidden), "-b", str(batch), "--epochs",
                              str(epochs), "--square", "1024", "--target", "1e-9", "--json",
                              f"{tmp}/oracle.json"], capture_output=True, text=True, env=env,
                             timeout=timeout,
                             preexec_fn=None if cpus is None else
                             lambda: os.sched_setaffinity(0, cpus))
        if out.returncode != 0:
            raise RuntimeError(f"python -m reference bench failed:\n{out.stderr[-2000:]}")
        return json.loads(Path(f"{tmp}/oracle.json").read_text())["images_per_second"]


def run_bench(args) -> int:
    print(f"numpy {np.__version__} on {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} cores; OPENBLAS_THREAD_TIMEOUT="
          f"{os.environ.get('OPENBLAS_THREAD_TIMEOUT')}")
    if args.images < args.batch:
        raise ValueError(f"--images {args.images} is less than one batch (-b {args.batch})")
    gemm, epochs, steps = interleaved_rates(args.square, args.images, args.hidden, args.batch,
                                            args.epochs)
    result = dict(square=args.square, images=args.images, hidden=args.hidden, batch=args.batch,
                  **verdict(gemm, epochs, args.target))
    result["images_per_second"] = result["epoch_median"] * 1e9 / flops_per_image(args.hidden)
    # the fastest step: what the code does when nothing else on the host gets in the way
    step_flops = args.batch * flops_per_image(args.hidden)
    result.update(step_seconds_fastest=min(steps), step_seconds_median=statistics.median(steps),
                  fastest_step_ratio=step_flops / min(steps) / 1e9 / result["gemm_best"])
    print(f"numpy GEMM {args.square}^3 float64:       best {result['gemm_best']:6.1f}, "
          f"median {result['gemm_median']:6.1f} GFLOP/s ({len(gemm)} windows)")
    print(f"oracle epoch, {args.images} images, H={args.hidden}, B={args.batch}: "
          f"best {result['epoch_best']:6.1f}, median {result['epoch_median']:6.1f} GFLOP/s "
          f"({len(epochs)} epochs), {result['images_per_second']:,.0f} images/s")
    print(f"steps of {args.batch} images ({len(steps)}): fastest "
          f"{min(steps) * 1e3:.1f} ms ({result['fastest_step_ratio']:.1%} of the best GEMM), "
          f"median {result['step_seconds_median'] * 1e3:.1f} ms")
    verdict_word = "meets" if result["passed"] else "MISSES"
    print(f"best epoch / best GEMM = {result['ratio']:.1%}: {verdict_word} the target of "
          f"{args.target:.0%} (median / median {result['ratio_of_medians']:.1%})")
    if args.json:
        write_json(args.json, result)
    return 0 if result["passed"] else 1
