"""The examples/ as they are run: each example's commands, the exit code each must give and
what its output must show, in one place for tests/test_examples.py (the checkout's
environment) and tests/test_wheel.py (the wheel, from a foreign directory). Each run works
on a copy of the example, so no report lands in the checkout."""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
SIMULATOR = {"NUMBA_ENABLE_CUDASIM": "1"}


@dataclass(frozen=True)
class Step:
    """One command: argv[0] is found in the environment's bin folder (oraclenet, python), or
    else on the PATH (cc)."""

    argv: tuple[str, ...]
    exit_code: int
    shows: tuple[str, ...] = ()  # text the output must hold
    makes: tuple[str, ...] = ()  # globs, relative to the example, that must match files
    env: dict = field(default_factory=dict)


IMPL = ("oraclenet", "check", "gemm", "--arrays", "numba", "--impl")
FILES = ("oraclenet", "check", "gemm", "--alpha", "2", "--beta", "5", "--files")
STEPS: dict[str, list[Step]] = {
    "numba_tiled_gemm": [
        Step((*IMPL, "tiled_gemm.py:gemm_gridDim_bug", "--report", "report"), 1,
             ("FAIL: 5 of 13 cases; first: ragged, alpha 2 beta 5 (17x15x33)",
              "cause: K terms missing: C is the sum over k < 16 of 33"),
             ("report/heatmap-001-*.png", "report/report.md"), SIMULATOR),
        Step((*IMPL, "tiled_gemm.py:gemm"), 0, ("PASS: 13 of 13 cases",), env=SIMULATOR),
    ],
    "numba_grid_gemm": [
        Step((*IMPL, "grid_gemm.py:gemm_floor_grid"), 1,
             ("FAIL: 12 of 13 cases", "cause: elements never written"), env=SIMULATOR),
        Step((*IMPL, "grid_gemm.py:gemm"), 0, ("PASS: 13 of 13 cases",), env=SIMULATOR),
    ],
    "cpp_dump": [
        Step(("python", "write_dump.py", "good"), 0),
        Step(("python", "write_dump.py", "bad", "--bug"), 0),
        Step((*FILES, *(f"good/{m}.bin" for m in ("A", "B", "C0", "C"))), 0,
             ("PASS: 1 of 1 cases",)),
        Step((*FILES, *(f"good/{m}.raw" for m in ("A", "B", "C0", "C")), "--raw", "float32",
              "--shape", "100,37,784", "--order", "F"), 0, ("PASS: 1 of 1 cases",)),
        Step((*FILES, *(f"bad/{m}.bin" for m in ("A", "B", "C0", "C"))), 1,
             ("FAIL: 1 of 1 cases", "37 of 3700 elements outside the bound")),
        Step((*FILES, *(f"bad/{m}.raw" for m in ("A", "B", "C0", "C")), "--raw", "float32",
              "--shape", "100,37,784", "--order", "F"), 1,
             ("cause: elements never written: 37 of 3700 elements", "in row 99 (every column)")),
    ],
    "arma_step": [
        Step(("python", "write_dump.py", "good"), 0),
        Step(("python", "write_dump.py", "bad", "--bug"), 0),
        Step(("oraclenet", "check", "step", "--before", "good/before", "--after", "good/after",
              "--batch", "good/batch", "--lr", "0.5", "--reg", "0.01"), 0,
             ("PASS: 1 of 1 cases",)),
        Step(("oraclenet", "check", "step", "--before", "bad/before", "--after", "bad/after",
              "--batch", "bad/batch", "--lr", "0.5", "--reg", "0.01"), 1,
             ("the files count layers from 0: their W0 b0 W1 b1 are W1 b1 W2 b2 below",
              "cause: L2 term missing", "in W1 (b1, W2, b2 right)")),
        Step(("oraclenet", "check", "step", "--before", "good/before", "--after", "good/after",
              "--batch", "good/before", "--lr", "0.5"), 2),
    ],
    "c_gemm": [
        Step(("cc", "-O2", "-shared", "-fPIC", "-o", "libmygemm.so", "mygemm.c"), 0),
        Step(("oraclenet", "check", "gemm", "--impl", "./libmygemm.so:myGEMM_float_acc", "--abi",
              "course"), 1, ("ragged, alpha 2 beta 5", "precision downgrade",
                             "24.0 bits, float32")),
        Step(("oraclenet", "check", "gemm", "--impl", "./libmygemm.so:myGEMM", "--abi",
              "course"), 0, ("PASS: 13 of 13 cases",)),
    ],
    "pytest_plugin": [
        Step(("python", "-m", "pytest", "-v", "--oraclenet-gemm", "student_gemm.py:gemm"), 0,
             ("oraclenet::gemm[course's chain, 3 calls, alpha 2 beta 5 | 40x50x39] PASSED",
              "test_student.py::test_my_own_gpu_package_is_mine PASSED",
              "test_student.py::test_my_product_against_the_oracle PASSED")),
        Step(("python", "-m", "pytest", "--oraclenet-gemm", "student_gemm.py:gemm_edge_bug"),
             1, ("FAILED oraclenet::gemm[ragged, alpha 2 beta 5 | 17x15x33]",
                 "gemm float64: FAIL (outside the worst-case bound: certainly a bug",
                 "cause: elements never written", "12 failed")),
    ],
    "outside_trainer": [
        Step(("python", "trainer.py", "good"), 0),
        Step(("python", "trainer.py", "bad", "--bug-at-step", "3"), 0),
        Step(("oraclenet", "check", "run", "good"), 0, ("PASS: 10 of 10 cases",)),
        Step(("oraclenet", "check", "run", "bad", "--report", "report"), 1,
             ("FAIL: 1 of 10 cases; first: step 3 (epoch 1, batch 3) (H 32, N 50): "
              "b2 after a step: FAIL", "cause: N times the gradient: N times the gradient "
              "(the batch sum instead of the mean)"), ("report/steps.png",)),
    ],
}


def copy(name: str, into: Path) -> Path:
    """The example copied into a fresh folder of `into`."""
    where = into / name
    shutil.copytree(EXAMPLES / name, where, ignore=shutil.ignore_patterns("__pycache__"))
    return where


def run(step: Step, bin_dir: Path, where: Path, timeout: float = 600
        ) -> subprocess.CompletedProcess:
    own = bin_dir / step.argv[0]  # the environment's oraclenet or python, else the system's cc
    argv = [str(own) if own.exists() else shutil.which(step.argv[0]) or step.argv[0],
            *step.argv[1:]]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "NUMBA_"))}
    return subprocess.run(argv, cwd=where, capture_output=True, text=True, timeout=timeout,
                          env={**env, **step.env})


def problems(step: Step, done: subprocess.CompletedProcess, where: Path) -> list[str]:
    """What the run got wrong: its exit code, missing text, missing files."""
    found = []
    if done.returncode != step.exit_code:
        found.append(f"exit code {done.returncode}, expected {step.exit_code}")
    found += [f"the output lacks {text!r}" for text in step.shows if text not in done.stdout]
    found += [f"no file matches {pattern}" for pattern in step.makes
              if not any(where.glob(pattern))]
    return found
