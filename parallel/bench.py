"""`python -m parallel bench`: images/s of both strategies at P = 1..4 on synthetic images,
the oracle for reference, the measured allreduce latency and bandwidth, and the alpha-beta
cost model checked against the measurements and projected to P = 1024 on a cluster network.

Run it as a plain process: it starts each MPI run itself with the real mpiexec, one BLAS
thread per rank, and the oracle in a process of its own with numpy's default threads.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from parallel import costmodel
from reference.bench import flops_per_image, images_per_second
from reference.config import positive_int
from reference.data import synthetic
from reference.files import save_figure, write_json, write_text
from reference.params import init_params

# A typical cluster interconnect (100 Gb/s InfiniBand HDR): 2 us latency, 12.5 GB/s.
CLUSTER_ALPHA, CLUSTER_BETA = 2e-6, 1 / 12.5e9
ALLREDUCE_SIZES = (8, 1 << 10, 1 << 14, 1 << 17, 1 << 20, 1 << 22)
TIMEOUT_S = 600


def worker(args) -> int:
    """Under mpiexec: train --epochs + 1 epochs, rank 0 prints one JSON line."""
    from parallel.cli import STRATEGIES  # imports MPI: only under mpiexec
    from parallel.comm import Comm

    comm = Comm()
    data = synthetic(args.images, seed=0) if comm.rank == 0 else None
    trainer = STRATEGIES[args.strategy](comm, init_params(args.hidden, 0), data, args.batch,
                                        1e-4, 0.1)
    epochs = []
    for epoch in range(args.epochs + 1):
        comm.comm.Barrier()
        if epoch == 1:  # count communication after the warm-up epoch only
            comm.seconds.clear()
        began = time.perf_counter()
        for t in range(trainer.n_batches):
            trainer.step(t)
        comm.comm.Barrier()
        epochs.append(time.perf_counter() - began)
    timed = epochs[1:]
    steps = trainer.n_batches * len(timed)
    if comm.rank == 0:
        print(json.dumps(dict(
            strategy=args.strategy, ranks=comm.size, images=args.images, hidden=args.hidden,
            batch=args.batch, epoch_seconds=timed,
            images_per_second=args.images / statistics.median(timed),
            step_seconds=sum(timed) / steps, allreduce_seconds=comm.seconds["step"] / steps,
            bytes_per_step=trainer.bytes_per_step())))
    return 0


def allreduce_worker(args) -> int:
    """Under mpiexec -n 2: median time of an allreduce for each size; rank 0 prints JSON."""
    from parallel.comm import Comm

    comm = Comm()
    times = {}
    for size in ALLREDUCE_SIZES:
        buffer = np.ones(size // 8)
        samples = []
        for _ in range(args.repeats):
            comm.comm.Barrier()
            began = time.perf_counter()
            comm.allreduce_sum(buffer)
            samples.append(time.perf_counter() - began)
        times[size] = statistics.median(samples)
    if comm.rank == 0:
        print(json.dumps(times))
    return 0


def _mpiexec(ranks: int, *argv: str) -> dict:
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1")
    out = subprocess.run([str(Path(sys.executable).parent / "mpiexec"), "-n", str(ranks),
                          sys.executable, "-m", "mpi4py", "-m", "parallel", *argv],
                         capture_output=True, text=True, env=env, timeout=TIMEOUT_S)
    if out.returncode != 0:
        raise RuntimeError(f"mpiexec -n {ranks} parallel {' '.join(argv)} failed:\n"
                           f"{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def fit_alpha_beta(times: dict) -> tuple[float, float]:
    """Least squares of t = 2 (P-1) alpha + 2 (P-1)/P n beta at P = 2: t = 2 alpha + n beta."""
    n = np.array([float(k) for k in times])
    t = np.array(list(times.values()))
    beta, intercept = np.polyfit(n, t, 1)
    return max(intercept / 2, 0.0), max(beta, 0.0)


def _plot(cluster: costmodel.Machine, hidden: int, batch: int, path: Path) -> None:
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
    ax.set_ylabel("predicted speedup over P = 1")
    ax.set_title(f"Alpha-beta model, H = {hidden}, B = {batch}: alpha "
                 f"{cluster.alpha * 1e6:.0f} us, {1 / cluster.beta / 1e9:.1f} GB/s, "
                 f"{cluster.rate / 1e9:.0f} GFLOP/s per rank", fontsize=9)
    ax.grid(True, which="major", alpha=0.3)
    ax.legend()
    save_figure(fig, path)
    plt.close(fig)


def run_bench(args) -> int:
    H, B = args.hidden, args.batch
    runs = {(s, p): _mpiexec(p, "bench-worker", "--strategy", s, "--images", str(args.images),
                             "-n", str(H), "-b", str(B), "--epochs", str(args.epochs))
            for s in ("data", "model") for p in (1, 2, 3, 4)}
    oracle = images_per_second(args.images, H, B, args.epochs)
    times = {int(k): v for k, v in _mpiexec(2, "allreduce-worker").items()}
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
               f"10 B / (795 H + 10) = {10 * B / (795 * H + 10):.3%})"]
    projection = {s: {p: costmodel.speedup(cluster, s, p, H, B) for p in
                      (2 ** k for k in range(11))} for s in ("data", "model")}
    text = "\n".join([
        f"# MPI trainers: throughput and cost model (H = {H}, B = {B}, {args.images} images)",
        "", "Made by `python -m parallel bench` (one BLAS thread per rank, the real mpiexec; "
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
    out: Path = args.out
    _plot(cluster, H, B, out / "mpi-speedup.png")
    write_text(out / "mpi-bench.md", text + "\n")
    write_json(out / "mpi-bench.json", dict(
        runs=[dict(r) for r in runs.values()], oracle_images_per_second=oracle,
        allreduce_seconds=times, here=here.as_dict(), cluster=cluster.as_dict(),
        speedup_p2=speedup, byte_ratio=byte_ratio, projection=projection))
    print(text)
    return 0


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m parallel", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("bench", "bench-worker"):
        p = sub.add_parser(name)
        p.add_argument("--images", type=positive_int, default=60000)
        p.add_argument("-n", "--hidden", type=positive_int, default=1000)
        p.add_argument("-b", "--batch", type=positive_int, default=800)
        p.add_argument("--epochs", type=positive_int, default=2, help="timed, after a warm-up")
    sub.choices["bench"].add_argument("--out", type=Path, default=Path("reports/mpi"))
    sub.choices["bench-worker"].add_argument("--strategy", choices=("data", "model"),
                                             required=True)
    sub.add_parser("allreduce-worker").add_argument("--repeats", type=positive_int, default=50)
    args = parser.parse_args(argv)
    run = {"bench": run_bench, "bench-worker": worker, "allreduce-worker": allreduce_worker}
    return run[args.command](args)
