"""`oraclenet regress record` and `regress check`: the subjects made, recorded, made again and
judged (regress/baseline.py), with the report.

Our own baseline covers the oracle, both MPI strategies at P = 2 and 3 (the check reruns each
at its own P, or all at --ranks P: another rank count is a harmless change), and the device
trainer in float32. An outside
baseline covers what --run (a run directory) or --impl (a training step, or a GEMM with
--kind gemm) names; the check is given the new run or implementation the same way.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..common.data import Dataset, load
from ..common.files import Folder, check_output, save_figure, write_json, write_text
from ..common.params import init_params
from ..common.report import table
from ..gpu.bench import gpu_available
from ..judge.finding import Finding
from . import baseline, fingerprints, machine, speed, subjects, trajectory
from .baseline import Subject

Say = Callable[[str], None]
MPI_RANKS = (2, 3)


@dataclass(frozen=True)
class Settings:
    directory: Path  # the baseline (record: written; check: read)
    quick: bool = False
    ranks: int | None = None  # record: MPI_RANKS; check: each subject's own
    run: Path | None = None  # an outside run directory
    impl: str | None = None  # an outside step or GEMM, MODULE:FUNCTION
    kind: str = "step"  # what --impl is: step or gemm
    dtype: str = "float64"  # the dtype --impl computes in
    convention: str = "inplace"  # a GEMM's, as `check gemm` takes them
    arrays: str = "numpy"
    layout: str = "row"
    gpu_gemm: str = "naive"
    speed: bool = True
    report: Path | None = None
    timeout: float = 300.0


def _impl_run(s: Settings, quick: bool) -> trajectory.Run:
    """The outside step driven on the oracle's settings."""
    from ..check.network import target

    step = target(s.impl, "step", s.dtype, timeout=s.timeout).impl.func
    split = subjects.mnist5k()
    steps = subjects.epochs(quick) * -(-len(split.train) // subjects.BATCH)
    run = trajectory.drive(step, init_params(subjects.HIDDEN, 0), split.train,
                           subjects.BATCH, subjects.LR, subjects.REG, steps, s.dtype)
    return run


# --- speed: the work of one sample, measured in a fresh process each (regress/speed.py) -----

def _impl_work(s: Settings) -> speed.Work:
    """Images/s of the outside step: an epoch on the oracle's settings, its batches made
    beforehand (the harness's own copy of each batch would dilute the step's time)."""
    from ..check.network import target

    step = target(s.impl, "step", s.dtype, timeout=s.timeout).impl.func
    split = subjects.mnist5k()
    steps = -(-len(split.train) // subjects.BATCH)
    inputs = trajectory.batches(split.train, subjects.BATCH, steps, s.dtype)

    def work() -> float:
        trajectory.drive(step, init_params(subjects.HIDDEN, 0), split.train, subjects.BATCH,
                         subjects.LR, subjects.REG, steps, s.dtype, inputs)
        return float(len(split.train))

    return work


def _gemm_target(s: Settings):
    from ..check import gemm

    return gemm.target(s.impl, s.convention, s.arrays, s.layout, s.dtype, timeout=s.timeout)


def _gemm_battery(s: Settings):
    from ..check import gemm

    return gemm.battery(_gemm_target(s), "quick")


def _oracle_work(batch: int = subjects.BATCH) -> speed.Work:
    """Images/s of the oracle's trainer, one epoch of mnist5k at H = 64 in the subjects'
    batches of 250 (in batches of 32 the per-step Python work is more of the time, and its
    rate less steady from one process to the next)."""
    from ..reference.train import train

    split = subjects.mnist5k()

    def work() -> float:
        train(init_params(64, 0), split.train, None, epochs=1, batch=batch, lr=0.1, reg=1e-4,
              progress=False)
        return float(len(split.train))

    return work


GEMM_SHAPE = (800, 1000, 784)  # the course's benchmark: C := 2 A B + 5 C


def _gemm_work(call, dtype: str, shape: tuple[int, int, int] = GEMM_SHAPE) -> speed.Work:
    """GFLOP/s of call(C, A, B, alpha, beta) at the course's shape. Every call starts from
    the same C (C := 2 A B + 5 C in place grows C fivefold a call: float32 overflows after
    about 55 calls, and the rate would be of arithmetic on infinities); restoring it, a copy
    of M N elements, costs 1/K of the product."""
    M, N, K = shape
    rng = np.random.default_rng(0)
    A, B = rng.standard_normal((M, K)).astype(dtype), rng.standard_normal((K, N)).astype(dtype)
    C0 = rng.standard_normal((M, N)).astype(dtype)
    C = C0.copy()

    def work() -> float:
        C[...] = C0
        call(C, A, B, 2.0, 5.0)
        return 2.0 * M * N * K / 1e9

    work.C = C  # the timed calls' result, for the tests
    return work


def _gpu_gemm_work(shape: tuple[int, int, int] = GEMM_SHAPE) -> speed.Work:
    """GFLOP/s of our regblock kernel in float32 at the course's shape on the device, C := 2 A
    B + 5 C (device arrays, no host copies; the warm-up sample compiles it). Every call
    starts from the same C, restored by a device-to-device copy (M N elements, 1/K of the
    product's work): in place, C would grow fivefold a call and overflow float32 after about
    55 calls, and the rate would be of arithmetic on infinities."""
    from numba import cuda

    from ..gpu.gemm import gemm

    M, N, K = shape
    rng = np.random.default_rng(0)
    A, B, C0 = (cuda.to_device(rng.standard_normal(s).astype(np.float32))
                for s in ((M, K), (K, N), (M, N)))
    C = cuda.device_array_like(C0)

    def work() -> float:
        C.copy_to_device(C0)
        gemm(C, A, B, 2.0, 5.0, algorithm="regblock")
        cuda.synchronize()
        return 2.0 * M * N * K / 1e9

    work.C = C  # the timed calls' result, for the tests
    return work


def _numpy_gemm(C, A, B, alpha, beta):
    C[...] = alpha * (A @ B) + beta * C


GPU_GEMM = "GPU GEMM GFLOP/s (regblock float32)"


def speed_work(s: Settings) -> dict[str, Callable[[], speed.Work]]:
    """The speeds a baseline of this kind records, each a function that prepares its work (an
    outside GEMM on device arrays: with the copies in and out, as `check gemm` calls it)."""
    if s.run is not None:
        return {}
    if s.impl is not None and s.kind == "gemm":
        def impl_gemm() -> speed.Work:
            target = _gemm_target(s)
            return _gemm_work(lambda C, A, B, alpha, beta: target.call(
                C, A, B, alpha, beta, False, False), s.dtype)

        return {"impl GEMM GFLOP/s": impl_gemm}
    if s.impl is not None:
        return {"impl images/s": lambda: _impl_work(s)}
    ours = {"oracle images/s": _oracle_work,
            "numpy GEMM GFLOP/s": lambda: _gemm_work(_numpy_gemm, "float64")}
    if gpu_available():  # the simulator's speed means nothing
        ours[GPU_GEMM] = _gpu_gemm_work
    return ours


def sample(s: Settings, name: str) -> tuple[float, float | None]:
    """One sample of speed `name` in this process: (rate, rate relative to the probe, or
    None)."""
    return speed.measure(speed_work(s)[name](), probe=name != GPU_GEMM)


SAMPLE_FIELDS = ("quick", "impl", "kind", "dtype", "convention", "arrays", "layout")


def spawn_sample(s: Settings, name: str) -> tuple[float, float | None]:
    """sample() in a fresh process (regress/speed_worker.py), given the settings that choose
    and prepare the work. A worker that fails (the outside code raised, say) is a ValueError
    with the last line it wrote."""
    given = json.dumps({k: getattr(s, k) for k in SAMPLE_FIELDS})
    try:
        done = subprocess.run([sys.executable, "-m", f"{__package__}.speed_worker", given,
                               name], capture_output=True, text=True, timeout=subjects.TIMEOUT)
    except subprocess.TimeoutExpired:
        raise ValueError(f"speed: {name}: no sample within {subjects.TIMEOUT:g} s") from None
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or [f"exit code {done.returncode}"])[-1]
        raise ValueError(f"speed: {name}: the measuring process failed: {last}")
    found = json.loads(done.stdout.strip().splitlines()[-1])
    return found["rate"], found["relative"]


def _speeds(s: Settings, say: Say, names=None) -> dict[str, speed.Samples]:
    """The speed samples of this kind of baseline (those named, of a check), each from a
    fresh process, one after another; measured before anything else is made."""
    found = {}
    for name in speed_work(s):
        if names is None or name in names:
            repeats = baseline.REPEATS[s.quick]
            say(f"speed: {name}, {repeats} processes")
            found[name] = speed.Samples.of([spawn_sample(s, name) for _ in range(repeats)])
    return found


def _outside_val(run_dir: Path) -> Dataset | None:
    from ..check.run import read_run

    settings = read_run(run_dir).settings
    data = str(settings["data"])
    if data.endswith((".npz", ".mat")):
        return None
    return load(data, settings.get("pixels", "unit"), settings.get("val_fraction", 0.1),
                settings.get("seed", 0)).val


def make(s: Settings, kind: str, work: Path, ranks: int | None = None
         ) -> tuple[trajectory.Run, Dataset | None]:
    """A subject's run made (or read) as users make it, and its data's validation set."""
    if kind == "run":
        return trajectory.read(s.run), _outside_val(s.run)
    if kind == "impl-step":
        return _impl_run(s, s.quick), subjects.mnist5k().val
    if kind == "oracle":
        made = subjects.oracle(work, s.quick)
    elif kind in ("mpi-data", "mpi-model"):
        made = subjects.mpi(work / f"p{ranks}", s.quick, kind.split("-")[1], ranks)
    elif kind == "gpu":
        made = subjects.gpu(work, s.quick, s.gpu_gemm)
    else:
        raise baseline.BaselineError(f"{s.directory}: a subject of unknown kind {kind!r}")
    return trajectory.read(made.directory), made.val


# --- record ---------------------------------------------------------------------------------

def record(s: Settings, say: Say) -> None:
    """Write the baseline whole or not at all: into a staging folder beside it, moved into
    place when everything is made (baseline.json last)."""
    check_output(s.directory / baseline.BASELINE_JSON)
    s.directory.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".staging-", dir=s.directory) as staging:
        _record(s, Path(staging), say)
        for path in sorted(Path(staging).iterdir(), key=lambda p: p.name == "baseline.json"):
            os.replace(path, s.directory / path.name)


def _record(s: Settings, out: Path, say: Say) -> None:
    members = baseline.MEMBERS[s.quick]
    entries, prints = {}, {}
    speeds = ({name: samples.to_json() for name, samples in _speeds(s, say).items()}
              if s.speed else {})  # --no-speed: a baseline with no speed to compare
    with tempfile.TemporaryDirectory(prefix="oraclenet-regress-") as tmp:
        work = Path(tmp)
        if s.run is not None:
            say(f"recording the outside run {s.run} and its ensemble of {members}")
            entries["run"] = {"kind": "run", **baseline.record_subject(
                out, Subject("run", *make(s, "run", work)), members)}
        elif s.impl is not None and s.kind == "gemm":
            say(f"recording the GEMM {s.impl}: its battery's precision models and ratios")
            prints = fingerprints.of_gemm(_gemm_battery(s), s.timeout)
            entries["impl"] = {"kind": "impl-gemm", "impl": s.impl, "dtype": s.dtype,
                               "convention": s.convention, "arrays": s.arrays,
                               "layout": s.layout}
        elif s.impl is not None:
            say(f"recording the step {s.impl} and its ensemble of {members}")
            entries["impl"] = {"kind": "impl-step", "impl": s.impl, **baseline.record_subject(
                out, Subject("impl", *make(s, "impl-step", work)), members)}
        else:
            say("the oracle's run and its ensemble")
            entries["oracle"] = {"kind": "oracle", **baseline.record_subject(
                out, Subject("oracle", *make(s, "oracle", work)), members)}
            for ranks in (s.ranks,) if s.ranks else MPI_RANKS:
                for strategy in ("data", "model"):
                    say(f"mpiexec -n {ranks} oraclenet mpi train --strategy {strategy}")
                    kind = f"mpi-{strategy}"
                    entries[f"{kind}-p{ranks}"] = {
                        "kind": kind, "against": "oracle", "ranks": ranks,
                        **baseline.outcome(*make(s, kind, work, ranks))}
            say(f"the device trainer in float32 ({machine.gpu_name()}) and its ensemble")
            entries["gpu"] = {"kind": "gpu", **baseline.record_subject(
                out, Subject("gpu", *make(s, "gpu", work)), members)}
            say("correctness fingerprints: the quick corpus's honest variants, the kernels")
            prints = fingerprints.ours()
    baseline.write(out, s.quick, entries, prints, speeds)



# --- check ----------------------------------------------------------------------------------

def check(s: Settings, say: Say) -> list[Finding]:
    if s.report is not None:
        report_folder(s.report).check()  # before minutes of work
    base = baseline.read(s.directory)
    if bool(base["quick"]) != s.quick:
        raise ValueError(f"{s.directory}: the baseline was recorded "
                         f"{'with' if base['quick'] else 'without'} --quick; check it the "
                         "same way")
    kinds = {e.get("kind") for e in base["subjects"].values()}
    _check_subject(s, kinds)
    if "run" in kinds and s.run is None:
        raise ValueError(f"{s.directory} is an outside run's baseline: give the new run with "
                         "--run RUNDIR")
    if kinds & {"impl-step", "impl-gemm"} and s.impl is None:
        raise ValueError(f"{s.directory} is an outside implementation's baseline: give it with "
                         "--impl MODULE:FUNCTION")
    findings, plots, prints = [], [], {}
    differ = machine.differences(base["machine"], machine.fingerprint())
    speeds = _speeds(s, say, base["speed"]) if s.speed and not differ else {}
    done = set()
    with tempfile.TemporaryDirectory(prefix="oraclenet-regress-") as tmp:
        work = Path(tmp)
        for name, entry in base["subjects"].items():
            kind = entry.get("kind")
            ranks = s.ranks or entry.get("ranks")
            if kind in ("mpi-data", "mpi-model"):
                name = f"{kind} (P = {ranks})"
                if name in done:  # --ranks runs every MPI subject at one P: once is enough
                    continue
                done.add(name)
            say(f"{name}: making the run again")
            if kind == "impl-gemm":
                prints = fingerprints.of_gemm(_gemm_battery(s), s.timeout)
                continue
            run, val = make(s, kind, work, ranks)
            against = entry.get("against", name)
            reference = base["subjects"].get(against, {})
            then = baseline.load_subject(s.directory, against, reference)
            at = reference["checkpoints"]
            first = trajectory.distances(run, then.first, then.u)
            findings.append(baseline.judge_first_steps(name, first, then))
            findings.append(baseline.judge_trajectory(name, run, then, at))
            found = baseline.judge_accuracy(name, run, val, then.predictions,
                                            reference.get("member_accuracy", []))
            if found is not None:
                findings.append(found)
            plots.append(Plot(name, then, trajectory.trajectory(run, at, then.anchor), at,
                              reference.get("loss", []), trajectory.losses(run), first))
        if base["fingerprints"]:
            if not prints:
                say("correctness fingerprints")
                prints = fingerprints.ours()
            findings += baseline.judge_fingerprints(base["fingerprints"], prints)
        if s.speed and base["speed"]:
            findings += baseline.judge_speed(base["speed"], speeds, differ)
        elif base["speed"]:
            findings.append(Finding("speed", "not compared", "--no-speed"))
    if s.report is not None:
        write_report(s, base, findings, plots)
    return findings


OUTSIDE = {"run": "an outside run's", "impl-step": "an outside step's",
           "impl-gemm": "an outside GEMM's"}


def _check_subject(s: Settings, kinds: set) -> None:
    """--run, --impl and --kind name a subject the baseline holds, else they are refused (they
    would be ignored)."""
    what = next((OUTSIDE[k] for k in sorted(kinds) if k in OUTSIDE), "our own")
    if s.run is not None and "run" not in kinds:
        raise ValueError(f"--run: {s.directory} is {what} baseline, not an outside run's")
    if s.impl is not None and not kinds & {"impl-step", "impl-gemm"}:
        raise ValueError(f"--impl: {s.directory} is {what} baseline, not an outside "
                         "implementation's")
    if s.impl is not None and f"impl-{s.kind}" not in kinds:
        other = "gemm" if s.kind == "step" else "step"
        raise ValueError(f"--kind {s.kind}: {s.directory} is {what} baseline (--kind {other})")


def regressions(findings: list[Finding]) -> list[Finding]:
    return [f for f in findings if not f.ok]


def terminal(findings: list[Finding]) -> str:
    rows = [["what", "verdict", "detail"], *([f.path, f.word, f.text] for f in findings)]
    widths = [max(len(r[i]) for r in rows) for i in range(2)]
    lines = [f"{r[0].ljust(widths[0])}  {r[1].ljust(widths[1])}  {r[2]}" for r in rows]
    bad = regressions(findings)
    drift = [f for f in findings if f.word == "drift"]
    lines.append(f"REGRESSION: {len(bad)} of {len(findings)} findings; first: {bad[0].path}: "
                 f"{bad[0].text}" if bad else
                 f"CONSISTENT: {len(findings)} findings, no regression"
                 + (f" ({len(drift)} drift warnings)" if drift else ""))
    return "\n".join(lines)


@dataclass(frozen=True)
class Plot:
    """What one subject's figure draws: the new run against the recorded ensemble."""

    label: str
    then: baseline.Recorded
    quantities: np.ndarray  # checkpoints x Q, the new run's
    at: list[int]
    then_loss: list[float]
    now_loss: np.ndarray
    first: list[float]  # the new run's roundings from the baseline after the first steps


def plot_band(plot: Plot, path: Path) -> None:
    """Each quantity standardised by the ensemble at each checkpoint: the band of +-3
    standard deviations (grey) and the new run over it (red); the loss curves, the
    baseline's and this run's; the distance from the baseline after each of the first steps,
    the run's and the ensemble's range."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    z = np.array([np.where(m.sd > 0, (row - m.mean) / np.where(m.sd > 0, m.sd, 1), 0.0)
                  for m, row in zip(plot.then.models, plot.quantities, strict=True)])
    at = plot.at
    fig = plt.figure(figsize=(11, 7), layout="constrained")
    grid = fig.add_gridspec(3, 4)
    axes = [fig.add_subplot(grid[q // 4, q % 4]) for q in range(len(trajectory.QUANTITIES))]
    for q, ax in enumerate(axes):
        ax.fill_between(at, -3, 3, color="0.85", label="ensemble +-3 sd")
        ax.axhline(0, color="0.6", lw=0.8)
        ax.plot(at, z[:, q], "o-", color="tab:red", lw=1.2, ms=3, label="this run")
        ax.set_title(trajectory.QUANTITIES[q], fontsize=8)
        ax.set_ylim(min(-4, np.nanmin(z[:, q]) * 1.1), max(4, np.nanmax(z[:, q]) * 1.1))
        ax.set_yscale("symlog", linthresh=4)
        ax.yaxis.set_major_formatter(matplotlib.ticker.FormatStrFormatter("%g"))
    axes[0].legend(fontsize=7)
    loss = fig.add_subplot(grid[2, :3])
    loss.plot(range(1, len(plot.then_loss) + 1), plot.then_loss, color="0.5", lw=2,
              label="baseline")
    loss.plot(range(1, len(plot.now_loss) + 1), plot.now_loss, color="tab:red", lw=1,
              label="this run")
    loss.set_xlabel("step", fontsize=8)
    loss.set_ylabel("loss J", fontsize=8)
    loss.legend(fontsize=7)
    first = fig.add_subplot(grid[2, 3])
    steps = np.arange(1, len(plot.first) + 1)
    spread = plot.then.first_ensemble
    first.fill_between(steps, spread.min(axis=0), spread.max(axis=0), color="0.85",
                       label="ensemble")
    first.plot(steps, plot.first, "o-", color="tab:red", lw=1.2, ms=3, label="this run")
    first.set_yscale("symlog", linthresh=1)
    first.yaxis.set_major_formatter(matplotlib.ticker.FormatStrFormatter("%g"))
    first.set_xticks(steps)
    first.set_xlabel("step", fontsize=8)
    first.set_ylabel("roundings from the baseline's", fontsize=8)
    first.legend(fontsize=7)
    fig.suptitle(f"{plot.label}: the run against the roundoff ensemble (z-scores by "
                 "checkpoint)", fontsize=9)
    save_figure(fig, path)
    plt.close(fig)


def report_folder(out: Path) -> Folder:
    """report.md, report.json and a figure per subject (band-*.png)."""
    return Folder(Path(out), ("report.md", "report.json"), ("band-*.png",))


def write_report(s: Settings, base: dict, findings: list[Finding], plots: list[Plot]
                 ) -> None:
    where = report_folder(s.report)
    where.check()
    images = []
    for plot in plots:
        name = "band-" + re.sub(r"[^0-9A-Za-z]+", "-", plot.label).strip("-").lower() + ".png"
        plot_band(plot, where.file(name))
        images.append(name)
    where.tidy(images)
    bad = regressions(findings)
    lines = [f"# oraclenet regress check against {s.directory}", "",
             f"Verdict: **{'REGRESSION' if bad else 'CONSISTENT'}**: {len(bad)} regressions "
             f"in {len(findings)} findings.", "",
             f"Baseline: commit {base['provenance'].get('commit')}, "
             f"{base['provenance'].get('date')}, on {base['machine'].get('cpu')}.", "",
             table(["what", "verdict", "detail"],
                   [[f.path, f.word, f.text.replace("|", "\\|")] for f in findings]), "",
             *(f"![{name}]({name})\n" for name in images)]
    write_text(where.file("report.md"), "\n".join(lines))
    write_json(where.file("report.json"), {"regression": bool(bad), "baseline": str(s.directory),
                                     "findings": [f.as_json() for f in findings],
                                     "figures": images})
