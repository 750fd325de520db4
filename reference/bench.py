"""`python -m reference bench`: the oracle's epoch rate against numpy's own GEMM rate.

Both are measured in the same run on the same machine: a large square float64 product
(median of several, before and after the epochs), and epochs of synthetic images, each after
a warm-up epoch. An epoch counts 4 * 784 * H + 60 * H flops per image: the two products
with W1-sized operands (z1 and dW1) and the three with W2-sized ones (z2, dW2, da1), at two
flops per multiply-add. Elementwise work is not counted: it is overhead the rate must absorb.
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

from reference.data import synthetic
from reference.files import write_json
from reference.params import init_params
from reference.train import train


def flops_per_image(hidden: int) -> int:
    return 4 * 784 * hidden + 60 * hidden


def gemm_rates(n: int, repeats: int = 5) -> list[float]:
    """GFLOP/s of n x n x n float64 products by numpy (its BLAS), after one warm-up."""
    rng = np.random.default_rng(0)
    A, B = rng.standard_normal((n, n)), rng.standard_normal((n, n))
    A @ B
    rates = []
    for _ in range(repeats):
        began = time.perf_counter()
        A @ B
        rates.append(2 * n ** 3 / (time.perf_counter() - began) / 1e9)
    return rates


def epoch_rates(images: int, hidden: int, batch: int, epochs: int) -> list[float]:
    """GFLOP/s of each training epoch after a warm-up epoch (synthetic data, lr 0.1)."""
    data = synthetic(images, seed=0)
    history = train(init_params(hidden, 0), data, None, epochs=epochs + 1, batch=batch,
                    lr=0.1, lam=1e-4, progress=False)
    return [images * flops_per_image(hidden) / s / 1e9 for s in history.epoch_seconds[1:]]


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
    gemm = gemm_rates(args.square)
    epochs = epoch_rates(args.images, args.hidden, args.batch, args.epochs)
    gemm += gemm_rates(args.square)
    gemm_rate, epoch_rate = statistics.median(gemm), statistics.median(epochs)
    ratio = epoch_rate / gemm_rate
    result = dict(square=args.square, gemm_gflops=gemm, gemm_median=gemm_rate,
                  images=args.images, hidden=args.hidden, batch=args.batch,
                  epoch_gflops=epochs, epoch_median=epoch_rate,
                  images_per_second=epoch_rate * 1e9 / flops_per_image(args.hidden),
                  ratio=ratio, target=args.target, passed=ratio >= args.target)
    print(f"numpy GEMM {args.square}^3 float64:       {gemm_rate:7.1f} GFLOP/s (median of "
          f"{len(gemm)})")
    print(f"oracle epoch, {args.images} images, H={args.hidden}, B={args.batch}: "
          f"{epoch_rate:7.1f} GFLOP/s (median of {len(epochs)} after a warm-up), "
          f"{result['images_per_second']:,.0f} images/s")
    verdict = "meets" if result["passed"] else "MISSES"
    print(f"epoch / GEMM = {ratio:.1%}: {verdict} the target of {args.target:.0%}")
    if args.json:
        write_json(args.json, result)
    return 0 if result["passed"] else 1
