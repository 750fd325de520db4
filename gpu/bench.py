"""`python -m gpu bench`: GFLOP/s of each GEMM algorithm and dtype, against cuBLAS (through
CuPy, where installed) in the same run, and the GPU trainer's images/s against the oracle's.

Shapes: the course's (M, N, K) = (800, 1000, 784) and (800, 10, 1000) with alpha = 2 and
beta = 5; the five products of one training step at H = 1000, B = 800; squares up to 4096.
Each time is the median of --repeats CUDA-event timings after a warm-up launch. Without a
GPU (or in the simulator) it says so and exits 0: there is nothing honest to measure.
"""

from __future__ import annotations

import argparse
import os
import statistics
from pathlib import Path

import numpy as np

from reference.bench import epoch_rates, flops_per_image
from reference.config import DEFAULTS

STEP = {  # (M, N, K) of the products in one step at H = 1000, B = 800
    "z1 = W1 X": (1000, 800, 784), "dW1 = dz1 X^T": (1000, 784, 800),
    "z2 = W2 a1": (10, 800, 1000), "dW2 = dz2 a1^T": (10, 1000, 800),
    "da1 = W2^T dz2": (1000, 800, 10),
}
COURSE = {"course 800x1000x784": (800, 1000, 784), "course 800x10x1000": (800, 10, 1000)}
SQUARES = {f"square {n}": (n, n, n) for n in (256, 512, 1024, 2048, 4096)}


def gpu_available() -> bool:
    if os.environ.get("NUMBA_ENABLE_CUDASIM") == "1":
        return False
    from numba import cuda

    try:
        return cuda.is_available()
    except Exception:  # no driver at all
        return False


def _median_ms(repeats: int, launch, *args, **kwargs) -> float:
    """Median milliseconds of launch(*args, **kwargs) by CUDA events, after a warm-up."""
    from numba import cuda

    launch(*args, **kwargs)
    cuda.synchronize()
    times = []
    for _ in range(repeats):
        start, stop = cuda.event(), cuda.event()
        start.record()
        launch(*args, **kwargs)
        stop.record()
        stop.synchronize()
        times.append(cuda.event_elapsed_time(start, stop))
    return statistics.median(times)


def _cupy_gemm(cupy, a, b, c, alpha, beta) -> None:
    if alpha == 1 and beta == 0:
        cupy.matmul(a, b, out=c)
    else:
        cupy.add(alpha * (a @ b), beta * c, out=c)


def gemm_table(repeats: int) -> list[dict]:
    from numba import cuda

    from gpu.gemm import ALGORITHMS, gemm

    try:
        import cupy
    except ImportError:
        cupy = None
    rows = []
    rng = np.random.default_rng(0)
    for label, (M, N, K) in {**COURSE, **STEP, **SQUARES}.items():
        alpha, beta = (2.0, 5.0) if label.startswith("course") else (1.0, 0.0)
        for dtype in (np.float32, np.float64):
            A, B, C = (cuda.to_device(rng.standard_normal(s).astype(dtype))
                       for s in ((M, K), (K, N), (M, N)))
            flops = 2.0 * M * N * K
            row = dict(shape=label, M=M, N=N, K=K, dtype=np.dtype(dtype).name)
            for algorithm in ALGORITHMS:
                ms = _median_ms(repeats, gemm, C, A, B, alpha, beta, algorithm=algorithm)
                row[algorithm] = flops / ms / 1e6
            if cupy is not None:  # cuBLAS through CuPy: C := alpha A B + beta C
                a, b, c = (cupy.asarray(x) for x in (A, B, C))
                ms = _median_ms(repeats, _cupy_gemm, cupy, a, b, c, alpha, beta)
                row["cublas"] = flops / ms / 1e6
            rows.append(row)
    return rows


def trainer_rate(images: int, epochs: int, hidden: int, batch: int) -> float:
    """Images/s of the GPU trainer (float32, regblock) on synthetic data."""
    import time

    from numba import cuda

    from gpu.network import DeviceNetwork
    from reference.data import synthetic
    from reference.params import init_params

    data = synthetic(images, seed=0)
    net = DeviceNetwork(init_params(hidden, 0), np.float32, "regblock")
    X, y = net.to_device(data.images, data.labels)
    seconds = []
    for _ in range(epochs + 1):
        cuda.synchronize()
        began = time.perf_counter()
        for start in range(0, images, batch):
            net.step(X[start:start + batch], y[start:start + batch], 1e-4, 0.1)
        cuda.synchronize()
        seconds.append(time.perf_counter() - began)
    return images / statistics.median(seconds[1:])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gpu bench", description=__doc__)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--images", type=int, default=60000)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path("docs"))
    args = parser.parse_args(argv)
    if not gpu_available():
        print("python -m gpu bench: no CUDA GPU here (or the simulator is on): nothing to "
              "measure. Run it on a machine with a GPU.")
        return 0
    from numba import cuda

    from reference.files import write_json

    device = cuda.get_current_device().name
    device = device.decode() if isinstance(device, bytes) else device
    rows = gemm_table(args.repeats)
    rates = {f"H {h}, B {b}": trainer_rate(args.images, args.epochs, h, b)
             for h, b in ((1000, 800), (DEFAULTS.hidden, DEFAULTS.batch))}
    oracle = {f"H {h}, B {b}": statistics.median(epoch_rates(args.images, h, b, 1)) * 1e9
              / flops_per_image(h) for h, b in ((1000, 800), (DEFAULTS.hidden, DEFAULTS.batch))}
    write_json(args.out / "gpu-bench.json", dict(device=device, gemm=rows,
                                                 gpu_images_per_second=rates,
                                                 oracle_images_per_second=oracle,
                                                 oracle_cores=os.cpu_count()))
    for r in rows:
        cells = "  ".join(f"{k} {r[k]:8.1f}" for k in ("naive", "shared", "regblock", "cublas")
                          if k in r)
        print(f"{r['shape']:22s} {r['dtype']:8s} GFLOP/s: {cells}")
    for key, rate in rates.items():
        print(f"{device}: GPU trainer {rate:,.0f} images/s at {key} (float32, regblock); "
              f"oracle on this host's {os.cpu_count()} cores {oracle[key]:,.0f}")
    return 0
