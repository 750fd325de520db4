"""How fast Numba's CUDA simulator runs at each GIL switch interval:
`python benchmarks/simulator_switch_interval.py`.

The simulator runs one Python thread per CUDA thread, and the thread that manages a block
polls them in a loop that never blocks, so it gives up the GIL only when the interpreter
forces it to, once per switch interval (Python's default: 5 ms). Every thread that leaves a
barrier waits for that. The bench times one training step of the device network (H 6, a
batch of 4: the z1 product alone has 196 barriers per block) with each GEMM kernel at each
interval, checks that the parameters come out bit for bit the same at every interval, and
counts at each interval how often threads that ask for a shared array together get arrays
of their own, with the simulator's allocation as it ships and as gpu/target.py guards it
(`split_rounds`). It writes docs/simulator-switch-interval.md.
"""

from __future__ import annotations

import os
import platform
import sys
import time
from pathlib import Path

os.environ["NUMBA_ENABLE_CUDASIM"] = "1"  # before numba is imported

import numpy as np

from oraclenet.common.data import synthetic
from oraclenet.common.files import write_text
from oraclenet.common.params import init_params
from oraclenet.common.report import table
from oraclenet.gpu.network import DeviceNetwork
from oraclenet.gpu.target import SIMULATOR_SWITCH_INTERVAL, split_rounds, tune_simulator
from oraclenet.judge.steps import in_dtype, representable
from oraclenet.regress.machine import cpu_model

INTERVALS = (5e-3, 1e-3, 3e-4, SIMULATOR_SWITCH_INTERVAL, 3e-5, 1e-5)
ALGORITHMS = ("naive", "shared", "regblock")
ROUNDS = 300  # of 64 threads released together, per interval and allocator


def one_step(algorithm: str, dtype) -> tuple[float, list[np.ndarray]]:
    """Seconds for one step from a fixed start, and the parameters it reached."""
    data = in_dtype(synthetic(4, seed=5), dtype)
    net = DeviceNetwork(representable(init_params(6, 5), dtype), dtype, algorithm)
    X, y = net.load(data.images, data.labels)
    began = time.perf_counter()
    net.step(X, y, 1e-2, 0.5)
    return time.perf_counter() - began, list(net.params().blocks().values())


def split_counts() -> list[tuple[str, str, str]]:
    """(interval, rounds split as the simulator ships, rounds split guarded) per interval."""
    from numba.cuda.simulator.kernelapi import FakeCUDAShared

    shipped = FakeCUDAShared.array
    tune_simulator()
    guarded = FakeCUDAShared.array
    rows = []
    for interval in INTERVALS:
        sys.setswitchinterval(interval)
        split = {}
        for name, allocator in (("shipped", shipped), ("guarded", guarded)):
            FakeCUDAShared.array = allocator
            split[name] = split_rounds(ROUNDS)
        print(f"{interval:g} s", split, flush=True)
        rows.append((f"{interval * 1e3:g} ms", f"{split['shipped']} of {ROUNDS}",
                     f"{split['guarded']} of {ROUNDS}"))
    FakeCUDAShared.array = guarded
    return rows


def main() -> None:
    rows, default = [], sys.getswitchinterval()
    splits = split_counts()
    for algorithm in ALGORITHMS:
        seconds, first = {}, None
        for interval in INTERVALS:
            sys.setswitchinterval(interval)
            seconds[interval], reached = one_step(algorithm, np.float32)
            first = first or reached
            if not all(np.array_equal(a, b) for a, b in zip(first, reached, strict=True)):
                raise SystemExit(f"{algorithm}: the step differs at interval {interval:g} s")
            print(algorithm, f"{interval:g} s", f"{seconds[interval]:.2f} s", flush=True)
        rows += [(algorithm, f"{interval * 1e3:g} ms", f"{s:.2f}",
                  f"{seconds[INTERVALS[0]] / s:.1f}x") for interval, s in seconds.items()]
    sys.setswitchinterval(default)
    text = f"""# Numba's CUDA simulator and the GIL switch interval

`python benchmarks/simulator_switch_interval.py`, on {cpu_model()} ({os.cpu_count()} cores,
no GPU), Python {platform.python_version()}: one float32 training step of the device network
(H 6, a batch of 4) with each GEMM kernel, one timing per cell. The parameters after the
step are bit for bit the same at every interval (the bench stops if not). When the simulator
is on, the entry points (`oraclenet`, the check's child processes, the test conftests) set
{SIMULATOR_SWITCH_INTERVAL * 1e3:g} ms (gpu/target.py); Python's default is 5 ms. The kernels
with barriers gain (shared, regblock); naive has none.

{table(("kernel", "switch interval", "seconds", "speedup over 5 ms"), rows)}

The simulator hands out a block's shared arrays by call site with a lookup and a store that
no lock guards, so threads that reach `cuda.shared.array` together may each get an array of
their own, and a barrier then shares nothing between them (a GEMM with one wrong row and
column of C: a false alarm). gpu/target.py serialises the allocation. Rounds of 64 threads,
released together by a barrier, each asking for two arrays at two call sites, in which some
threads did not get the same array (`split_rounds`):

{table(("switch interval", "as numba-cuda ships it", "guarded (gpu/target.py)"), splits)}
"""
    write_text(Path(__file__).resolve().parent.parent / "docs" / "simulator-switch-interval.md",
               text)


if __name__ == "__main__":
    main()
