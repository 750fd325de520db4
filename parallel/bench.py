"""`oraclenet mpi bench`: images/s of both strategies at P = 1..4 on synthetic images,
the oracle for reference, the measured allreduce latency and bandwidth, and the alpha-beta
cost model checked against the measurements and projected to P = 1024 on a cluster network.

Run it as a plain process: it starts each MPI run itself with the real mpiexec, one BLAS
thread per rank (parallel/worker.py), and the oracle in a process of its own with numpy's
default threads.
"""

from __future__ import annotations

import os
import statistics
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..common.files import Folder, save_figure, write_json, write_text
from ..common.shapes import flops_per_image
from ..reference.bench import images_per_second
from . import costmodel
from .launch import TIMEOUT_S, run_worker

# A typical cluster interconnect (100 Gb/s InfiniBand HDR): 2 us latency, 12.5 GB/s.
CLUSTER_ALPHA, CLUSTER_BETA = 2e-6, 1 / 12.5e9


@dataclass(frozen=True)
class Settings:
    images: int = 60000
    hidden: int = 1000
    batch: int = 800
    epochs: int = 2  # timed, after a warm-up epoch
    out: Path = Path("reports/mpi")
    timeout: float = TIMEOUT_S  # the watchdog's, in every MPI run


def worker_run(strategy: str, ranks: int, images: int, hidden: int, batch: int,
               epochs: int, timeout: float = TIMEOUT_S) -> dict:
    """One strategy at P ranks, as parallel/worker.py measures it."""
    return run_worker(ranks, "train", "--strategy", strategy, "--images", str(images), "-n",
                      str(hidden), "-b", str(batch), "--epochs", str(epochs), timeout=timeout)


def fit_alpha_beta(times: dict) -> tuple[float, float]:
    """Least squares of t = 2 (P-1) alpha + 2 (P-1)/P n beta at P = 2: t = 2 alpha + n beta."""
    n = np.array([float(k) for k in times])
    t = np.array(list(times.values()))
    beta, intercept = np.polyfit(n, t, 1)
    return max(intercept / 2, 0.0), max(beta, 0.0)


def plot_speedup(cluster: costmodel.Machine, hidden: int, batch: int, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for strategy in ("data", "model"):
        ranks = [2 ** k for k in range(11)]
        ax.loglog(ranks, [costmodel.speedup(cluster, strategy, p, hidden, batch)
                          for p in ranks], "o-", base=2, label=f"{strategy} parallelism")
    ax.loglog([1, 1024], [1, 1024], "k:", base=2, lw=0.8, label="linear")
    ax.set_xlabel("ranks P")
    ax.set_ylabel("projected speedup over P = 1 (a model, not measured)")
    ax.set_title(f"Projection by the alpha-beta model, H = {hidden}, B = {batch}: alpha "
                 f"{cluster.alpha * 1e6:.0f} us, {1 / cluster.beta / 1e9:.1f} GB/s, "
                 f"{cluster.rate / 1e9:.0f} GFLOP/s per rank", fontsize=9)
    ax.grid(True, which="major", alpha=0.3)
    ax.legend()
    save_figure(fig, path)
    plt.close(fig)


def folder(out: Path) -> Folder:
    return Folder(Path(out), ("mpi-bench.md", "mpi-bench.json", "mpi-speedup.png"))


def run(settings: Settings) -> int:
    """Measure, print, and write OUT/mpi-bench.md, .json and mpi-speedup.png."""
    H, B, images, epochs = settings.hidden, settings.batch, settings.images, settings.epochs
    runs = {(s, p): worker_run(s, p, images, H, B, epochs, settings.timeout)
            for s in ("data", "model") for p in (1, 2, 3, 4)}
    oracle = images_per_second(images, H, B, epochs)
    times = {int(k): v for k, v in run_worker(2, "allreduce",
                                                timeout=settings.timeout).items()}
    alpha, beta = fit_alpha_beta(times)
    flops = B * flops_per_image(H)
    rate = statistics.mean(flops / (runs[(s, 1)]["step_seconds"]) for s in ("data", "model"))
    here = costmodel.Machine(alpha, beta, rate, os.cpu_count() or 1)
    cluster = costmodel.Machine(CLUSTER_ALPHA, CLUSTER_BETA, rate, 1 << 20)

    lines = ["| strategy | P | images/s | speedup over P = 1 | step ms measured | step ms "
             "modelled | allreduce ms | bytes/step/rank |", "|---|---|---|---|---|---|---|---|"]
    for (s, p), r in runs.items():
        model_ms = 1e3 * costmodel.step_seconds(here, s, p, H, B)
        lines.append(f"| {s} | {p} | {r['images_per_second']:,.0f} | "
                     f"{r['images_per_second'] / runs[(s, 1)]['images_per_second']:.2f} | "
                     f"{1e3 * r['step_seconds']:.1f} | {model_ms:.1f} | "
                     f"{1e3 * r['allreduce_seconds']:.2f} | {r['bytes_per_step']:,.0f} |")
    speedup = {s: runs[(s, 2)]["images_per_second"] / runs[(s, 1)]["images_per_second"]
               for s in ("data", "model")}
    byte_ratio = runs[("model", 2)]["bytes_per_step"] / runs[("data", 2)]["bytes_per_step"]
    targets = [f"model parallelism at P = 2: {speedup['model']:.2f}x (target 1.8x)",
               f"data parallelism at P = 2: {speedup['data']:.2f}x (target 1.6x)",
               f"model / data bytes per step: {byte_ratio:.3%} (target 1%; analytic "
               f"(10 B + 1) / (795 H + 11) = "
               f"{costmodel.step_bytes('model', H, B) / costmodel.step_bytes('data', H, B):.3%})"]
    projection = {s: {p: costmodel.speedup(cluster, s, p, H, B) for p in
                      (2 ** k for k in range(11))} for s in ("data", "model")}
    text = "\n".join([
        f"# MPI trainers: throughput and cost model (H = {H}, B = {B}, {images} images)",
        "", "Made by `oraclenet mpi bench` (one BLAS thread per rank, the real mpiexec; "
        "P = 3 and 4 oversubscribe a 2-core machine).", "",
        f"Oracle in one process, numpy's default threads: {oracle:,.0f} images/s.", "",
        *lines, "", "Targets:", "", *[f"- {t}" for t in targets], "",
        "Cost model parameters here (fitted to allreduce timings at P = 2 and the P = 1 "
        f"runs): alpha {alpha * 1e6:.1f} us, bandwidth {1 / beta / 1e9 if beta else 0:.2f} "
        f"GB/s, R {rate / 1e9:.1f} GFLOP/s per rank, {here.cores} cores.",
        "Projection to a cluster network (alpha 2 us, 12.5 GB/s, same R per rank), "
        "predicted speedup:", "",
        "| P | " + " | ".join(str(p) for p in projection["data"]) + " |",
        "|---|" + "---|" * len(projection["data"]),
        *[f"| {s} | " + " | ".join(f"{projection[s][p]:.1f}" for p in projection[s]) + " |"
          for s in ("data", "model")],
        "", "![predicted speedup](mpi-speedup.png)"])
    where = folder(settings.out)
    where.check()
    plot_speedup(cluster, H, B, where.file("mpi-speedup.png"))
    write_text(where.file("mpi-bench.md"), text + "\n")
    write_json(where.file("mpi-bench.json"), dict(
        runs=[dict(r) for r in runs.values()], oracle_images_per_second=oracle,
        allreduce_seconds=times, here=here.as_dict(), cluster=cluster.as_dict(),
        speedup_p2=speedup, byte_ratio=byte_ratio, projection=projection))
    print(text)
    return 0
