"""The GPU suite: oraclenet.gpu's kernels judged against the oracle, on a GPU or in Numba's
simulator (the caller chooses, gpu/target.py, before numba loads). tests/gpu runs each check
as a test; `oraclenet verify` runs them all with `python -m oraclenet.corpus.gpu_suite OUT`.

- the GEMM family (naive, shared, regblock) in float32 and float64, every transpose, alpha
  and beta each 0, 1 or another value, ragged shapes (17 x 18 x 19, 70 x 17 x 3: two blocks
  or more in each dimension), against the GEMM verdict; exact on integers and at K = 1; a
  NaN-poisoned C inside a guard band of sentinels (every element written, nothing outside);
- the planted kernel bugs of corpus/kernels.py, each failing by teeth.min_bug_ratio or more;
- the other kernels: elementwise in ulps (at the extremes their stability is for),
  reductions against gamma_n bounds, counts exactly, each launch at least two blocks;
- the device network: every step of an epoch (teacher-forced and free-running) against the
  whole-step bounds, and its evaluation path;
- every kernel compiled to PTX for sm_90 in both dtypes, with no float64 instruction in the
  float32 ones (in a process of its own, outside the simulator).

Every check is seeded and returns Findings (suite.py).
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ..common.data import synthetic
from ..common.params import init_params
from ..judge import elementwise, evaluation
from ..judge.roundoff import compare_gemm, compare_gemm_exact, compare_rowsum
from ..judge.steps import in_dtype, judge, oracle_step, representable
from ..reference import network
from .elementwise import inputs as extreme_inputs
from .suite import Finding, fact, failures, guarded, honest, planted, write

SEED = 20261124
ALGORITHMS = ("naive", "shared", "regblock")  # gpu/gemm.py's, without loading numba
DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
TRANSPOSES = ((False, False), (False, True), (True, False), (True, True))
# alpha and beta each 0, 1 or another value: a kernel that ignores alpha when beta = 0, or
# reads C when beta = 0, shows only in some of these.
EVERY_SCALING = tuple((a, b) for a in (0.0, 1.0, 2.0) for b in (0.0, 1.0, 5.0))
# Ragged: not multiples of 16 or 64, K = 1; every kernel on a grid of at least two blocks in
# each dimension (16 x 16 tiles for naive and shared: 17 x 18; regblock's 64 x 16 tiles:
# 70 x 17), with a K past one tile and a skinny one.
SHAPES = ((1, 1, 1), (17, 18, 19), (70, 17, 3))
REG, LR = 1e-2, 0.5
PTX_SCRIPT = ("import json; from oraclenet.gpu.ptx import compile_all; "
              "print(json.dumps(compile_all()))")


def _operands(rng, M, N, K, dtype, ta, tb, integers=False):
    def draw(shape):
        if integers:
            return rng.integers(-4, 5, size=shape).astype(dtype)
        return rng.standard_normal(shape).astype(dtype)

    A = draw((K, M) if ta else (M, K))
    B = draw((N, K) if tb else (K, N))
    return A, B, draw((M, N))


def _ops(A, B, ta, tb):
    return (A.T if ta else A), (B.T if tb else B)


def _shape(M, N, K) -> str:
    return f"{M}x{N}x{K}"


def gemm_roundoff(algorithm: str, dtype, ta: bool, tb: bool) -> list[Finding]:
    """Every transpose at alpha 2, beta 5: a transpose changes only how op(A) and op(B) are
    read, and every other scaling is gemm_scalings'."""
    from ..gpu.gemm import gemm

    rng, found = np.random.default_rng(SEED), []
    for M, N, K in SHAPES[1:]:
        A, B, C0 = _operands(rng, M, N, K, dtype, ta, tb)
        C = C0.copy()
        gemm(C, A, B, 2.0, 5.0, ta, tb, algorithm)
        found += honest(f"{_shape(M, N, K)}", [compare_gemm(C, *_ops(A, B, ta, tb), C0, 2.0,
                                                            5.0)])
    return found


def gemm_scalings(algorithm: str, dtype) -> list[Finding]:
    from ..gpu.gemm import gemm

    rng, found = np.random.default_rng(SEED), []
    M, N, K = SHAPES[1] if algorithm != "regblock" else SHAPES[2]
    for alpha, beta in EVERY_SCALING:
        A, B, C0 = _operands(rng, M, N, K, dtype, False, False)
        C = C0.copy()
        gemm(C, A, B, alpha, beta, algorithm=algorithm)
        found += honest(f"alpha {alpha:g} beta {beta:g}",
                        [compare_gemm(C, A, B, C0, alpha, beta)])
    return found


def gemm_exact(algorithm: str, dtype) -> list[Finding]:
    """Small integers: every product and partial sum is exact, so the result must be too."""
    from ..gpu.gemm import gemm

    rng, found = np.random.default_rng(SEED), []
    for M, N, K in SHAPES:
        A, B, C0 = _operands(rng, M, N, K, dtype, False, True, integers=True)
        C = C0.copy()
        gemm(C, A, B, 2.0, 5.0, False, True, algorithm)
        found += honest(_shape(M, N, K), [compare_gemm_exact(C, A, B.T, C0, 2.0, 5.0)])
    return found


def gemm_coverage(algorithm: str) -> list[Finding]:
    """beta = 0 over a NaN-poisoned C, inside a guard band of sentinels on the device; a grid
    of at least two blocks in each dimension."""
    from numba import cuda

    from ..gpu.gemm import gemm

    rng = np.random.default_rng(SEED)
    (M, N, K), g, sentinel = (SHAPES[2] if algorithm == "regblock" else SHAPES[1]), 3, -7.25
    A, B, _ = _operands(rng, M, N, K, np.float64, False, False)
    big = np.full((M + 2 * g, N + 2 * g), sentinel)
    big[g:g + M, g:g + N] = np.nan
    d_big = cuda.to_device(big)
    gemm(d_big[g:g + M, g:g + N], cuda.to_device(A), cuda.to_device(B), 1.0, 0.0,
         algorithm=algorithm)
    out = d_big.copy_to_host()
    inside = out[g:g + M, g:g + N]
    band = out.copy()
    band[g:g + M, g:g + N] = sentinel
    unwritten, outside = int(np.isnan(inside).sum()), int((band != sentinel).sum())
    return [fact("every element written", unwritten == 0,
                 f"{unwritten} of {inside.size} elements of C never written"),
            fact("nothing outside C", outside == 0,
                 f"{outside} guard-band elements overwritten"),
            *honest("values", [compare_gemm(inside, A, B)])]


def kernel_bug(bug: str) -> list[Finding]:
    """Three blocks along M (half the row stride leaves the last rows unwritten only then)
    and two along N, with beta 5 and beta 0: the worst verdict must fail by far."""
    from .kernels import launch_planted

    rng = np.random.default_rng(SEED)
    A, B, C0 = _operands(rng, 40, 17, 35, np.float64, False, False)
    return [planted("worst of beta 5 and 0", (
        compare_gemm(launch_planted(bug, C0.copy(), A, B, alpha, beta), A, B, C0, alpha, beta)
        for alpha, beta in ((2.0, 5.0), (2.0, 0.0))))]


def _run(name, dtype, n, *arrays):
    """Launch kernel `name` over n items on device copies; return the arrays back."""
    from numba import cuda

    from ..gpu.kernels import kernels, launch

    device = [cuda.to_device(a) if isinstance(a, np.ndarray) else a for a in arrays]
    kernels(dtype)[name][launch(n)](*device)
    return [d.copy_to_host() if hasattr(d, "copy_to_host") else d for d in device]


def _columns(op: str, kind: str, dtype, count: int = 150) -> np.ndarray:
    """`count` columns of logits (more than one block of threads), repeating the corpus's."""
    z = extreme_inputs(op, kind, dtype, 0)["z"]
    return np.tile(z, (1, -(-count // z.shape[1])))[:, :count].astype(dtype)


def sigmoid(dtype, kind: str) -> list[Finding]:
    Z = extreme_inputs("sigmoid", kind, dtype, 0)["z"].astype(dtype)
    _, A = _run("sigmoid", dtype, Z.size, Z, np.empty_like(Z))
    return [fact("two blocks or more", Z.size > 128, f"{Z.size} inputs"),
            *honest("", [elementwise.compare_sigmoid(A, Z)])]


def add_bias(dtype) -> list[Finding]:
    rng = np.random.default_rng(SEED)
    Z = rng.standard_normal((13, 19)).astype(dtype)
    b = rng.standard_normal((13, 1)).astype(dtype)
    out, _ = _run("add_bias", dtype, Z.size, Z, b)
    return honest("", [elementwise.compare_add_bias(out, Z, b)])


def softmax(dtype, kind: str) -> list[Finding]:
    Z = _columns("softmax", kind, dtype)
    _, Y = _run("softmax", dtype, Z.shape[1], Z, np.empty_like(Z))
    return honest("", [elementwise.compare_softmax(Y, Z)])


def cross_entropy(dtype, kind: str) -> list[Finding]:
    Z = _columns("softmax", kind, dtype)
    labels = np.random.default_rng(SEED).integers(0, 10, Z.shape[1])
    *_, J = _run("cross_entropy", dtype, Z.shape[1], Z, labels, np.zeros(1, dtype))
    return honest("", [elementwise.compare_cross_entropy_sum(J, Z, labels)])


def deltas(dtype) -> list[Finding]:
    rng = np.random.default_rng(SEED)
    Yhat = network.softmax(rng.standard_normal((10, 15))).astype(dtype)
    labels = rng.integers(0, 10, 15)
    *_, D = _run("output_delta", dtype, Yhat.size, Yhat, labels, dtype.type(15),
                 np.empty_like(Yhat))
    dA = rng.standard_normal((7, 20)).astype(dtype)
    A = network.sigmoid(rng.standard_normal((7, 20)) * 3).astype(dtype)
    *_, dZ = _run("sigmoid_delta", dtype, A.size, dA, A, np.empty_like(A))
    return honest("", [elementwise.compare_output_delta(D, Yhat, labels, 15),
                       elementwise.compare_sigmoid_delta(dZ, dA, A)])


def reductions(dtype) -> list[Finding]:
    from numba import cuda

    from ..gpu.kernels import kernels, launch_reduction

    X = np.random.default_rng(SEED).standard_normal((150, 9)).astype(dtype)
    squares = (X.astype(float) ** 2).reshape(1, -1)
    _, s = _run("row_sums", dtype, X.shape[0], X, np.empty((150, 1), dtype))
    _, per_item = _run("sum_squares", dtype, X.size, X, np.zeros(1, dtype))  # thread per item
    strided = cuda.to_device(np.zeros(1, dtype))  # as the network launches it: grid-stride
    kernels(dtype)["sum_squares"][launch_reduction(X.size)](cuda.to_device(X), strided)
    return (honest("row sums", [compare_rowsum(s, X)])
            + honest("sum of squares, a thread per item", [compare_rowsum(per_item, squares)])
            + honest("sum of squares, grid-stride",
                     [compare_rowsum(strided.copy_to_host(), squares)]))


def sgd_and_count(dtype) -> list[Finding]:
    rng = np.random.default_rng(SEED)
    P = rng.standard_normal((6, 25)).astype(dtype)
    G = rng.standard_normal((6, 25)).astype(dtype)
    out, *_ = _run("sgd", dtype, P.size, P.copy(), G, dtype.type(0.25))
    Z = rng.standard_normal((10, 150)).astype(dtype)
    labels = rng.integers(0, 10, 150)
    *_, count = _run("count_correct", dtype, 150, Z, labels, np.zeros(1, np.int64))
    expected = np.count_nonzero(np.argmax(Z, axis=0) == labels)
    return [*honest("sgd", [elementwise.compare_update(out, P, G, 0.25)]),
            fact("count_correct", count[0] == expected,
                 f"counted {count[0]} correct answers, the oracle {expected}")]


def teacher_forced_steps(dtype) -> list[Finding]:
    """Each step starts from the oracle's trajectory: 7 images, a batch of 4 and a last
    partial one of 3, with the regblock GEMM (the others: the GEMM checks)."""
    from ..gpu.network import DeviceNetwork

    data = in_dtype(synthetic(7, seed=5), dtype)
    p = representable(init_params(6, 5), dtype)
    net = DeviceNetwork(p, dtype, "regblock")
    X, y = net.load(data.images, data.labels)
    found = []
    for t, start in enumerate(range(0, 7, 4)):
        stop = min(start + 4, 7)
        net.set_params(p)
        J = net.step(X[start:stop], y[start:stop], REG, LR)
        found += honest(f"step {t}",
                        judge(net.params(), J, p, data, start, stop, REG, LR, dtype).values())
        p = oracle_step(p, data, start, stop, REG, LR, dtype)
    return found


def free_running_steps(dtype) -> list[Finding]:
    """The network keeps its state on the device for 4 steps (batches of 4, 4, 1 and 4
    again: a full batch after the last partial one), each judged from the parameters it had
    reached."""
    from ..gpu.network import DeviceNetwork

    data = in_dtype(synthetic(9, seed=7), dtype)
    p = representable(init_params(5, 7), dtype)
    net = DeviceNetwork(p, dtype, "naive")
    X, y = net.load(data.images, data.labels)
    found = []
    for t, start in enumerate([0, 4, 8, 0]):
        stop = min(start + 4, 9)
        J = net.step(X[start:stop], y[start:stop], REG, LR)
        reached = net.params()
        found += honest(f"step {t}",
                        judge(reached, J, p, data, start, stop, REG, LR, dtype).values())
        p = reached
    return found


def evaluation_path(dtype) -> list[Finding]:
    """What the device trainer evaluates on, its logits and its count of correct answers,
    against the oracle's for the same parameters (judge/evaluation.py)."""
    from ..gpu.network import DeviceNetwork

    data = in_dtype(synthetic(30, seed=6), dtype)
    p = representable(init_params(5, 6), dtype)
    net = DeviceNetwork(p, dtype, "shared")
    X_d, y_d = net.load(data.images, data.labels)
    images = evaluation.compare_data(X_d.copy_to_host(), data.images)
    net.forward(X_d)
    logits = evaluation.compare_logits(net.z2(), p, data.X)
    accuracy = evaluation.compare_accuracy(net.correct(X_d, y_d) / len(data), p, data.X,
                                           data.labels, dtype)
    return honest("", [images, logits, accuracy])


def ptx() -> list[Finding]:
    """Every kernel compiled to PTX for sm_90 by numba-cuda's NVVM, in a process without the
    simulator: float32 kernels hold no float64 instruction, float64 ones do."""
    from ..gpu.kernels import SIGNATURES
    from ..gpu.ptx import f64_instructions

    env = {k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"}
    out = subprocess.run([sys.executable, "-c", PTX_SCRIPT], capture_output=True, text=True,
                         env=env, timeout=600)
    if out.returncode != 0:
        return [fact("compiled", False, "the PTX build failed: " + out.stderr[-2000:])]
    built = json.loads(out.stdout)
    names = [f"gemm_{a}" for a in ALGORITHMS] + sorted(SIGNATURES)
    wanted = sorted(f"{k} {d.name}" for k in names for d in DTYPES)
    missing, extra = sorted(set(wanted) - set(built)), sorted(set(built) - set(wanted))
    found = [fact("every kernel in both dtypes", not missing and not extra,
                  f"{len(built)} kernels built; missing {missing}, unexpected {extra}")]
    for key, text in sorted(built.items()):
        f64 = f64_instructions(text)
        found.append(fact(f"{key}/sm_90", ".target sm_90" in text and ".entry" in text,
                          "an .entry for .target sm_90" if ".target sm_90" in text else
                          "no .target sm_90 in its PTX"))
        found.append(fact(f"{key}/float64 instructions",
                          not f64 if key.endswith("float32") else bool(f64),
                          f"{len(f64)} float64 instructions" + (f", e.g. {f64[:2]}" if f64
                                                                else "")))
    return found


@functools.cache
def checks() -> dict[str, Callable[[], list[Finding]]]:
    """Every check by name, in report order. It loads numba: the caller has chosen where
    kernels run (gpu/target.py) before."""
    from .kernels import KERNEL_BUGS

    checks: dict[str, Callable[[], list[Finding]]] = {}

    def add(name, func, *args):
        checks[name] = functools.partial(func, *args)

    for algorithm in ALGORITHMS:
        for dtype in DTYPES:
            for ta, tb in TRANSPOSES:
                add(f"gemm/{algorithm}/{dtype.name}/op(A){'^T' * ta} op(B){'^T' * tb}",
                    gemm_roundoff, algorithm, dtype, ta, tb)
            add(f"gemm/{algorithm}/{dtype.name}/every alpha and beta", gemm_scalings,
                algorithm, dtype)
            add(f"gemm/{algorithm}/{dtype.name}/exact on integers", gemm_exact, algorithm,
                dtype)
        add(f"gemm/{algorithm}/coverage and guard band", gemm_coverage, algorithm)
    for bug in KERNEL_BUGS:
        add(f"planted kernel bug/{bug}", kernel_bug, bug)
    for dtype in DTYPES:
        for kind in ("normal", "extreme"):
            add(f"kernels/{dtype.name}/sigmoid {kind}", sigmoid, dtype, kind)
            add(f"kernels/{dtype.name}/softmax {kind}", softmax, dtype, kind)
            add(f"kernels/{dtype.name}/cross entropy {kind}", cross_entropy, dtype, kind)
        add(f"kernels/{dtype.name}/add bias", add_bias, dtype)
        add(f"kernels/{dtype.name}/deltas", deltas, dtype)
        add(f"kernels/{dtype.name}/reductions", reductions, dtype)
        add(f"kernels/{dtype.name}/sgd and count", sgd_and_count, dtype)
        add(f"device network/{dtype.name}/teacher-forced steps", teacher_forced_steps, dtype)
        add(f"device network/{dtype.name}/free-running steps", free_running_steps, dtype)
        add(f"device network/{dtype.name}/evaluation path", evaluation_path, dtype)
    add("ptx", ptx)
    return checks


def run(name: str) -> list[Finding]:
    """Check `name`, its findings' paths prefixed with it (suite.guarded)."""
    return guarded(name, checks()[name])


def main(argv: list[str] | None = None) -> int:
    """`python -m oraclenet.corpus.gpu_suite OUT [--only NAME ...]`: every check's findings
    as JSON lines in OUT, a progress line per check; exit 1 when one fails."""
    from ..gpu.target import choose

    target = choose()  # before numba loads
    parser = argparse.ArgumentParser(prog="python -m oraclenet.corpus.gpu_suite")
    parser.add_argument("out", type=Path)
    parser.add_argument("--only", nargs="+", choices=sorted(checks()), metavar="NAME")
    args = parser.parse_args(argv)
    print(f"gpu suite: {target}", flush=True)
    found = []
    names = args.only or list(checks())
    for i, name in enumerate(names, 1):
        mine = run(name)
        found += mine
        print(f"[{i}/{len(names)}] {name}: {'FAIL' if failures(mine) else 'pass'}",
              flush=True)
    write(args.out, found)
    return 1 if failures(found) else 0


if __name__ == "__main__":
    sys.exit(main())
