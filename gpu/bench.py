"""`oraclenet gpu bench`: GFLOP/s of each GEMM algorithm and dtype, against cuBLAS (through
CuPy, where installed) in the same run, and the GPU trainer's images/s against the oracle's.

Shapes: the course's (M, N, K) = (800, 1000, 784) and (800, 10, 1000) with alpha = 2 and
beta = 5; the five products of one training step at H = 1000, B = 800; squares up to 4096.
Each time is the median of --repeats CUDA-event timings after a warm-up launch. The oracle
runs in a process of its own pinned to --oracle-cores CPUs. Writes OUT/gpu-bench.json,
OUT/gpu-bench.png and OUT/gpu-results.md (device and date in each). Without a GPU (or in the
simulator) it says so and exits 0: there is nothing honest to measure.
"""

from __future__ import annotations

import datetime
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..common.config import DEFAULTS
from ..common.data import synthetic
from ..common.files import Folder, save_figure, write_json, write_text
from ..common.params import init_params
from ..reference.bench import images_per_second
from .options import device_error, simulated

STEP = {  # (M, N, K) of the products in one step at H = 1000, B = 800
    "z1 = W1 X": (1000, 800, 784), "dW1 = dz1 X^T": (1000, 784, 800),
    "z2 = W2 a1": (10, 800, 1000), "dW2 = dz2 a1^T": (10, 1000, 800),
    "da1 = W2^T dz2": (1000, 800, 10),
}
COURSE = {"course 800x1000x784": (800, 1000, 784), "course 800x10x1000": (800, 10, 1000)}
SQUARES = {f"square {n}": (n, n, n) for n in (256, 512, 1024, 2048, 4096)}


def gpu_available() -> bool:
    """A real GPU (the simulator measures nothing)."""
    return not simulated() and device_error() is None


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


def _cublas_gemm(cublas, a, b, c, alpha, beta) -> None:
    """C := alpha A B + beta C in one cuBLAS call (CuPy's wrapper; no TF32 unless CUPY_TF32)."""
    cublas.gemm("N", "N", a, b, out=c, alpha=alpha, beta=beta)


def gemm_table(repeats: int) -> list[dict]:
    from numba import cuda

    from .gemm import ALGORITHMS, gemm

    try:
        import cupy
        from cupy import cublas
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
                ms = _median_ms(repeats, _cublas_gemm, cublas, a, b, c, alpha, beta)
                row["cublas"] = flops / ms / 1e6
            rows.append(row)
    return rows


def trainer_rate(images: int, epochs: int, hidden: int, batch: int) -> float:
    """Images/s of the GPU trainer (float32, regblock) on synthetic data."""
    from numba import cuda

    from .network import DeviceNetwork

    data = synthetic(images, seed=0)
    net = DeviceNetwork(init_params(hidden, 0), np.float32, "regblock")
    X, y = net.load(data.images, data.labels)
    seconds = []
    for _ in range(epochs + 1):
        cuda.synchronize()
        began = time.perf_counter()
        for start in range(0, images, batch):
            net.step(X[start:start + batch], y[start:start + batch], 1e-4, 0.1)
        cuda.synchronize()
        seconds.append(time.perf_counter() - began)
    return images / statistics.median(seconds[1:])


def targets(result: dict) -> list[dict]:
    """The GPU issue's targets, measured: regblock float32 against cuBLAS SGEMM at 4096^3 and
    800x1000x784, shared against naive (the smallest ratio over every shape and dtype), and
    the trainer's epoch against the oracle on --oracle-cores CPU cores."""
    by = {(r["shape"], r["dtype"]): r for r in result["gemm"]}
    found = []
    for shape in ("square 4096", "course 800x1000x784"):
        row = by.get((shape, "float32"))
        if row and "cublas" in row:
            found.append(dict(name=f"regblock / cuBLAS SGEMM, {shape}",
                              value=row["regblock"] / row["cublas"], target=0.70))
    found.append(dict(name="shared / naive, smallest over all shapes and dtypes",
                      value=min(r["shared"] / r["naive"] for r in result["gemm"]), target=3.0))
    for key, rate in result["gpu_images_per_second"].items():
        found.append(dict(name=f"GPU epoch / oracle epoch on {result['oracle_cores']} cores, "
                               f"{key}", value=rate / result["oracle_images_per_second"][key],
                          target=20.0))
    for t in found:
        t["met"] = t["value"] >= t["target"]
    return found


def markdown(result: dict) -> str:
    """docs/gpu-results.md: the run's device, date, GEMM table, trainer rates and targets."""
    algorithms = [a for a in ("naive", "shared", "regblock", "cublas")
                  if all(a in r for r in result["gemm"])]
    lines = [f"# GPU results: {result['device']}, {result['date']}", "",
             f"Made by `oraclenet gpu bench` (median of {result['repeats']} CUDA-event timings "
             "after a warm-up; cuBLAS through CuPy, FP32 without TF32). GFLOP/s = 2 M N K / time; "
             "the course's shapes run with alpha = 2, beta = 5, the others with alpha = 1, "
             "beta = 0.", "",
             "| shape | M x N x K | dtype | " + " | ".join(algorithms) + " |",
             "|---|---|---|" + "---|" * len(algorithms)]
    for r in result["gemm"]:
        lines.append(f"| {r['shape']} | {r['M']} x {r['N']} x {r['K']} | {r['dtype']} | "
                     + " | ".join(f"{r[a]:,.1f}" for a in algorithms) + " |")
    lines += ["", "| trainer (60,000 synthetic images) | GPU images/s (float32, regblock) | "
              f"oracle images/s on {result['oracle_cores']} CPU cores |", "|---|---|---|"]
    for key, rate in result["gpu_images_per_second"].items():
        lines.append(f"| {key} | {rate:,.0f} | "
                     f"{result['oracle_images_per_second'][key]:,.0f} |")
    lines += ["", "| target | measured | aim | met |", "|---|---|---|---|"]
    for t in targets(result):
        lines.append(f"| {t['name']} | {t['value']:.2f} | {t['target']:g} | "
                     f"{'yes' if t['met'] else 'no'} |")
    return "\n".join(lines) + "\n"


def plot(result: dict, path: Path) -> None:
    """GFLOP/s per shape, one panel per dtype, one bar per algorithm."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    dtypes = ("float32", "float64")
    fig, axes = plt.subplots(2, 1, figsize=(11, 8), sharex=True)
    for ax, dtype in zip(axes, dtypes, strict=True):
        rows = [r for r in result["gemm"] if r["dtype"] == dtype]
        algorithms = [a for a in ("naive", "shared", "regblock", "cublas") if a in rows[0]]
        width = 0.8 / len(algorithms)
        for i, a in enumerate(algorithms):
            ax.bar(np.arange(len(rows)) + i * width, [r[a] for r in rows], width, label=a)
        ax.set_yscale("log")
        ax.set_ylabel(f"{dtype} GFLOP/s")
        ax.grid(True, axis="y", which="major", alpha=0.3)
        ax.legend(fontsize=8)
    axes[-1].set_xticks(np.arange(len(rows)) + 0.4 - width / 2,
                        [r["shape"] for r in rows], rotation=30, ha="right", fontsize=8)
    axes[0].set_title(f"GEMM on {result['device']} ({result['date']})")
    save_figure(fig, path)
    plt.close(fig)


@dataclass(frozen=True)
class Settings:
    repeats: int = 20  # CUDA-event timings per GEMM, after a warm-up
    images: int = 60000
    epochs: int = 3  # of the GPU trainer, after a warm-up epoch
    oracle_cores: int = 2  # CPU cores the oracle is measured on (the GPU issue's comparison)
    out: Path = Path("docs")


def folder(out: Path) -> Folder:
    return Folder(Path(out), ("gpu-bench.json", "gpu-bench.png", "gpu-results.md"))


def run(s: Settings) -> int:
    """Measure and write OUT/gpu-bench.json, .png and gpu-results.md; without a real GPU,
    say so and return 0 (there is nothing honest to measure)."""
    if not gpu_available():
        print("oraclenet gpu bench: no CUDA GPU here (or the simulator is on): nothing to "
              "measure. Run it on a machine with a GPU.")
        return 0
    from numba import cuda

    device = cuda.get_current_device().name
    device = device.decode() if isinstance(device, bytes) else device
    shapes = ((1000, 800), (DEFAULTS.hidden, DEFAULTS.batch))
    result = dict(
        device=device, date=datetime.date.today().isoformat(), repeats=s.repeats,
        gemm=gemm_table(s.repeats),
        gpu_images_per_second={f"H {h}, B {b}": trainer_rate(s.images, s.epochs, h, b)
                               for h, b in shapes},
        oracle_cores=s.oracle_cores,
        oracle_images_per_second={f"H {h}, B {b}": images_per_second(
            s.images, h, b, 1, cores=s.oracle_cores) for h, b in shapes})
    where = folder(s.out)
    where.check()
    write_json(where.file("gpu-bench.json"), result)
    plot(result, where.file("gpu-bench.png"))
    text = markdown(result)
    write_text(where.file("gpu-results.md"), text)
    print(text)
    return 0
