"""What a baseline covers, and how each subject's run is made, the way users start it.

    oracle      `oraclenet train`, float64, on mnist5k
    mpi-data    `mpiexec -n P oraclenet mpi train --strategy data`, same settings
    mpi-model   `mpiexec -n P oraclenet mpi train --strategy model`, same settings
    gpu         `oraclenet gpu train --dtype float32` on a small IDX set of real digits (on
                the GPU, or in Numba's simulator where there is none)
    run         an outside run directory (`oraclenet check run`'s format), given by --run
    impl        an outside training step, MODULE:FUNCTION, driven on the oracle's settings

Every subject ends as a run directory (common/dump.py's format, written by the trainers'
own --dump-dir) and the validation set of its data (judged on the final parameters). The oracle
and the MPI trainers share one setting, so the MPI runs are judged against the oracle's
ensemble, at any rank count.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..common.data import Dataset, Split, load, write_idx

HIDDEN, BATCH, LR, REG = 16, 250, 0.5, 1e-3  # mnist5k: 18 steps an epoch
GPU = dict(hidden=8, batch=9, images=60)  # 6 float32 steps an epoch in the simulator
TIMEOUT = 600.0


@functools.cache
def mnist5k() -> Split:
    """The embedded data as every subject splits it (read once: its CSV takes a while)."""
    return load("mnist5k")


@dataclass(frozen=True)
class Made:
    """A subject's run: its dump directory and the validation set of its data."""

    directory: Path
    val: Dataset


def epochs(quick: bool) -> int:
    return 1 if quick else 3


def _oraclenet(*argv: str) -> list[str]:
    return [sys.executable, "-m", "oraclenet", *argv]


def _run(argv: list[str], what: str, env: dict | None = None) -> None:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=TIMEOUT,
                              env=None if env is None else {**os.environ, **env})
    except subprocess.TimeoutExpired:
        raise ValueError(f"{what}: no result within {TIMEOUT:g} s") from None
    if done.returncode != 0:
        tail = (done.stderr.strip().splitlines() or ["(no message)"])[-1]
        raise ValueError(f"{what} failed (exit code {done.returncode}): {tail}")


def train_flags(quick: bool) -> list[str]:
    return ["-n", str(HIDDEN), "-b", str(BATCH), "-l", str(LR), "-r", str(REG), "-e",
            str(epochs(quick)), "--quiet"]


def oracle(work: Path, quick: bool) -> Made:
    out = work / "oracle"
    _run(_oraclenet("train", *train_flags(quick), "--dump-dir", str(out)), "oraclenet train")
    return Made(out, mnist5k().val)


def mpiexec() -> str:
    here = Path(sys.executable).parent / "mpiexec"
    return str(here) if here.exists() else (shutil.which("mpiexec") or "mpiexec")


def mpi(work: Path, quick: bool, strategy: str, ranks: int) -> Made:
    work.mkdir(parents=True, exist_ok=True)
    out = work / f"mpi-{strategy}"
    flags = [f for f in train_flags(quick) if f != "--quiet"]
    _run([mpiexec(), "-n", str(ranks), *_oraclenet("mpi", "train", "--strategy", strategy,
                                                    *flags, "--dump-dir", str(out))],
         f"mpiexec -n {ranks} oraclenet mpi train --strategy {strategy}")
    return Made(out, mnist5k().val)


def small_idx(directory: Path, images: int) -> Path:
    """The first `images` training digits of mnist5k, and 10 of its validation digits as a
    test set, as real IDX files."""
    split = load("mnist5k", "raw")
    directory.mkdir(parents=True, exist_ok=True)
    for prefix, data in (("train", split.train), ("t10k", split.val)):
        n = images if prefix == "train" else 10
        write_idx(directory / f"{prefix}-images-idx3-ubyte",
                  data.images[:n].astype(np.uint8).reshape(n, 28, 28))
        write_idx(directory / f"{prefix}-labels-idx1-ubyte", data.labels[:n].astype(np.uint8))
    return directory


def gpu(work: Path, quick: bool, gemm: str = "naive") -> Made:
    """float32 on the device: 2 epochs (12 steps), or 1 when quick (the simulator allows no
    more: a simulated step takes seconds)."""
    from ..gpu.options import device_error, simulated

    data = small_idx(work / "idx", GPU["images"])
    out = work / "gpu"
    env = {} if simulated() or device_error() is None else {"NUMBA_ENABLE_CUDASIM": "1"}
    _run(_oraclenet("gpu", "train", "--data", str(data), "-n", str(GPU["hidden"]), "-b",
                    str(GPU["batch"]), "-e", str(1 if quick else 2), "-l", str(LR), "-r", str(REG),
                    "--dtype", "float32", "--gemm", gemm, "--quiet", "--dump-dir", str(out)),
         "oraclenet gpu train", env)
    return Made(out, load(str(data)).val)
