"""The cases of `oraclenet separation`, family by family: roundoff-only variants (every order,
precision, split and kind of data an honest implementation may meet) and planted bugs, each
paired with the check that judges it.

Data kinds: uniform on [-1, 1), normal, MNIST pixels (mnist5k, unit scaled), sigmoid
activations, all-positive, constant, heavy cancellation (x and -x), near underflow.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from functools import cache

import numpy as np

from ..common.data import Dataset, load_mnist5k, one_hot, synthetic
from ..common.params import Params, init_params
from ..common.shapes import N_CLASSES, N_PIXELS
from ..judge import bounds, evaluation
from ..judge.diagnose import diagnose_gemm
from ..judge.diagnose_network import diagnose_loss, diagnose_network
from ..judge.roundoff import compare_gemm, compare_rowsum
from ..judge.steps import judge as judge_step
from ..judge.steps import oracle_step
from ..judge.verdict import Verdict
from ..reference.train import train
from . import elementwise as EW
from . import evaluation as EV
from . import forms as F
from . import gemm as G
from . import gradient as D
from . import mpi as M
from .mpi import run_ranks
from .separation import Case

DATA = ("uniform", "normal", "pixels", "sigmoid", "positive", "constant", "cancellation",
        "underflow")
ALPHA_BETA = ((1.0, 0.0), (2.0, 5.0), (0.5, 1.0), (-1.5, 0.25))


@cache
def _pixels() -> np.ndarray:
    """mnist5k's images as columns (784 x 5000), unit scaled."""
    split = load_mnist5k("unit", 0.1, 0)
    return np.concatenate([split.train.images, split.val.images]).T


def matrix(kind: str, shape: tuple[int, int], rng: np.random.Generator, dtype) -> np.ndarray:
    rows, cols = shape
    if kind == "uniform":
        x = rng.uniform(-1, 1, shape)
    elif kind == "normal":
        x = rng.standard_normal(shape)
    elif kind == "pixels":
        x = _pixels()[rng.integers(0, 784, rows)][:, rng.integers(0, 5000, cols)]
    elif kind == "sigmoid":
        x = 1 / (1 + np.exp(-3 * rng.standard_normal(shape)))
    elif kind == "positive":
        x = rng.uniform(0, 1, shape)
    elif kind == "constant":
        x = np.full(shape, 0.1)
    elif kind == "cancellation":
        half = rng.standard_normal((rows, (cols + 1) // 2))
        x = np.hstack([half, -half])[:, :cols] * (1 + 1e-3 * rng.standard_normal(shape))
    elif kind == "underflow":
        x = rng.standard_normal(shape) * (1e-18 if dtype == np.float32 else 1e-150)
    else:
        raise ValueError(f"no data kind {kind!r}")
    return x.astype(dtype)


def gemm_problem(kind: str, shape, dtype, seed: int, alpha_beta=(1.0, 0.0)):
    M, N, K = shape
    rng = np.random.default_rng(seed)
    A = matrix(kind, (M, K), rng, dtype)
    B = matrix("pixels" if kind == "pixels" else kind, (K, N), rng, dtype)
    if kind == "pixels":
        A = (rng.standard_normal((M, K)) / np.sqrt(K)).astype(dtype)  # W1 times images
    C0 = matrix("normal", (M, N), rng, dtype)
    return A, B, C0, *alpha_beta


def _gemm_case(family: str, name: str, bug: bool, gemm: G.Gemm, problem: Callable,
               meant_for: tuple[str, ...] = ("rigorous", "statistical"),
               poison: bool = False, cause: str | None = None) -> Case:
    """One call judged, and diagnosed as the battery does; a race bug's failing call made
    again, as the battery makes every failing call again (the other planted bugs are
    deterministic: their second call is the first); poison: C holds NaN before the call and
    beta is 0."""
    def run():
        A, B, C0, alpha, beta = problem()
        before = np.full_like(C0, np.nan) if poison else C0
        judged_C0 = np.zeros_like(C0) if poison else C0
        C = gemm(A, B, before, alpha, beta)
        v = compare_gemm(C, A, B, judged_C0, alpha, beta)
        if v.passed:
            return [v]
        rerun = gemm(A, B, before, alpha, beta) if isinstance(gemm, G.Racing) else None
        return [diagnose_gemm(v, C, A, B, judged_C0, alpha, beta, before=before,
                              rerun=rerun)]

    return Case(family, name, bug, run, meant_for, cause)


SHAPES_QUICK = [(1, 1, 1), (3, 2, 15), (17, 16, 33), (31, 33, 63)]
SHAPES = [*SHAPES_QUICK, (65, 1, 127), (10, 129, 16), (129, 31, 784), (64, 64, 1000)]
LONG_SHAPES = [(256, 256, 4096), (10, 800, 1000)]  # BLAS and tiled orders only


def gemm_cases(dtype, quick: bool) -> list[Case]:
    family = f"gemm {np.dtype(dtype).name}"
    cases = []
    orders = sorted(G.orders())
    shapes = SHAPES_QUICK if quick else SHAPES
    data = (*DATA[:3], "constant") if quick else DATA
    for n, (order, kind, shape) in enumerate(itertools.product(orders, data, shapes)):
        ab = ALPHA_BETA[n % len(ALPHA_BETA)]
        name = f"{order}, {kind}, {'x'.join(map(str, shape))}, alpha {ab[0]:g} beta {ab[1]:g}"
        cases.append(_gemm_case(family, name, False, G.honest(order),
                                lambda kind=kind, shape=shape, ab=ab, n=n:
                                gemm_problem(kind, shape, dtype, n, ab)))
    if not quick:
        for order, shape in itertools.product(("BLAS", "tiles of 64"), LONG_SHAPES):
            cases.append(_gemm_case(family, f"{order}, normal, {'x'.join(map(str, shape))}",
                                    False, G.honest(order),
                                    lambda shape=shape: gemm_problem("normal", shape, dtype, 1)))
    structural = dict(G.BUGS)
    if dtype == np.float32:
        structural.pop("a single element off by 1e-6 relative")  # 16 ulps: float32 roundoff
    downgrades = G.PRECISION_BUGS if dtype == np.float32 else G.FLOAT64_PRECISION_BUGS
    # Ragged shapes, where every structural bug shows (a partial last tile along M, N and K,
    # fewer column tiles than K's), and the network's and the long shapes.
    shapes = {"structural": [(17, 17, 33), (33, 31, 100)] if quick else [
                  (17, 17, 33), (33, 31, 100), (65, 66, 130), (257, 255, 1000),
                  (801, 47, 784)],
              "downgrade": [(17, 17, 33), (33, 31, 100)] if quick else [
                  (17, 17, 33), (33, 31, 100), (800, 1000, 784), *LONG_SHAPES]}
    for kind, bugs, meant in (("structural", structural, ("rigorous", "statistical")),
                              ("downgrade", downgrades, ("precision",))):
        for name, gemm in bugs.items():
            for shape in shapes[kind]:
                if name == "transposed operand on a square matrix":
                    shape = (shape[2], shape[1], shape[2])
                ab = (0.1, 0.0) if "alpha" in name else (2.0, 5.0)
                cases.append(_gemm_case(family, f"{name} ({'x'.join(map(str, shape))})", True,
                                        gemm, lambda shape=shape, ab=ab:
                                        gemm_problem("normal", shape, dtype, 2, ab), meant,
                                        cause=G.CAUSES[name]))
    for shape in shapes["structural"][:2]:
        label = "x".join(map(str, shape))
        for name, gemm in G.POISON_BUGS.items():
            cases.append(_gemm_case(family, f"{name} ({label})", True, gemm,
                                    lambda shape=shape: gemm_problem("normal", shape, dtype, 2,
                                                                     (2.0, 0.0)),
                                    poison=True, cause=G.CAUSES[name]))
        for name, make in G.RACE_BUGS.items():
            cases.append(_gemm_case(family, f"{name} ({label})", True, make(),
                                    lambda shape=shape: gemm_problem("normal", shape, dtype, 2,
                                                                     (2.0, 5.0)),
                                    cause=G.CAUSES[name]))
    name = "beta applied twice over ten in-place calls"
    cases.append(Case(family, name, True,
                      lambda: _chain(G.beta_applied_twice(G.honest("BLAS")), dtype),
                      cause=G.CAUSES[name]))
    return cases


def _chain(gemm: G.Gemm, dtype) -> list:
    """The course's mode 4: alpha 2, beta 5, ten calls in place; each call judged from the C
    it started from."""
    A, B, C, alpha, beta = gemm_problem("uniform", (80, 100, 78), dtype, 3, (2.0, 5.0))
    chain = G.in_place_chain(gemm, A, B, C, alpha, beta, 10)
    return [diagnose_gemm(compare_gemm(after, A, B, before, alpha, beta), after, A, B, before,
                          alpha, beta) for before, after in itertools.pairwise(chain)]


# --- row sums --------------------------------------------------------------------------------

ROWS = 64  # rows per row-sum problem: enough for the precision test's rms
ROWSUM_ORDERS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "one by one": lambda x: np.cumsum(x, axis=1, dtype=x.dtype)[:, -1],
    "reversed": lambda x: np.cumsum(x[:, ::-1], axis=1, dtype=x.dtype)[:, -1],
    "pairwise (numpy)": lambda x: x.sum(axis=1, dtype=x.dtype),
    "blocks of 32": lambda x: np.add.reduceat(x, np.arange(0, x.shape[1], 32), axis=1)
    .sum(axis=1, dtype=x.dtype),
}
ROWSUM_BUGS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "last term left out": lambda x: x[:, :-1].sum(axis=1, dtype=x.dtype),
    "first term added twice": lambda x: x.sum(axis=1, dtype=x.dtype) + x[:, 0],
    "averaged instead of summed": lambda x: x.mean(axis=1, dtype=x.dtype),
    "float16 accumulation": lambda x: np.cumsum(x.astype(np.float16), axis=1,
                                                dtype=np.float16)[:, -1].astype(x.dtype),
    "one row left out (zero)": lambda x: np.concatenate([x[:-1].sum(axis=1, dtype=x.dtype),
                                                         np.zeros(1, x.dtype)]),
}


def rowsum_cases(quick: bool) -> list[Case]:
    cases = []
    lengths = (1, 2, 37, 1000) if quick else (1, 2, 37, 1000, 100_000)
    for dtype in (np.float32, np.float64):
        family = "row sums"
        data = DATA[:3] if quick else DATA
        for n, (order, kind, length) in enumerate(itertools.product(ROWSUM_ORDERS, data,
                                                                    lengths)):
            def run(order=order, kind=kind, length=length, n=n, dtype=dtype):
                x = matrix(kind, (ROWS, length), np.random.default_rng(n), dtype)
                return [compare_rowsum(ROWSUM_ORDERS[order](x), x)]

            cases.append(Case(family, f"{order}, {kind}, n = {length}, "
                              f"{np.dtype(dtype).name}", False, run))
        for name, wrong in ROWSUM_BUGS.items():
            def bug(wrong=wrong, dtype=dtype):
                x = matrix("normal", (ROWS, 1000), np.random.default_rng(5), dtype)
                return [compare_rowsum(wrong(x), x)]

            meant = ("precision",) if "float16" in name else ("rigorous", "statistical")
            cases.append(Case(family, f"{name} ({np.dtype(dtype).name})", True, bug, meant))
    return cases


# --- elementwise steps ---------------------------------------------------------------------

def elementwise_cases(quick: bool) -> list[Case]:
    cases = []
    seeds = range(2 if quick else 20)
    for op, (judge, honest, bugs) in EW.OPS.items():
        for dtype in (np.dtype(np.float32), np.dtype(np.float64)):
            for (name, compute), kind, seed in itertools.product(honest.items(),
                                                                 ("normal", "extreme"), seeds):
                def run(compute=compute, kind=kind, seed=seed, dtype=dtype, judge=judge,
                        op=op):
                    x = EW.inputs(op, kind, dtype, seed)
                    return [judge(compute(x, dtype), x)]

                cases.append(Case("elementwise", f"{op} {name}, {kind}, {dtype.name}, "
                                  f"seed {seed}", False, run))
            for name, compute in bugs.items():
                def bug(compute=compute, dtype=dtype, judge=judge, op=op):
                    found = []
                    for kind in ("normal", "extreme"):  # the suite tries both
                        x = EW.inputs(op, kind, dtype, 11)
                        found.append(judge(compute(x, dtype), x))
                    return found

                cases.append(Case("elementwise", f"{op}: {name} ({dtype.name})", True, bug))
    return cases


# --- gradients and training steps ----------------------------------------------------------

REG, LR = 1e-2, 0.5


def network_problem(H: int, N: int, kind: str, seed: int):
    """(p, X, Y): seeded parameters with nonzero biases, N images, one-hot labels; every value
    representable in float32, so that float32 and float64 implementations see the same."""
    rng = np.random.default_rng(seed)
    p = init_params(H, seed)
    p.b1 += 0.1 * rng.standard_normal(p.b1.shape)
    p.b2 += 0.1 * rng.standard_normal(p.b2.shape)
    if kind == "pixels":
        X = _pixels()[:, rng.integers(0, 5000, N)]
    elif kind == "synthetic":
        X = synthetic(N, seed=seed).X
    else:
        X = rng.uniform(0, 1, (N_PIXELS, N))
    return D.float32_values(p, X, one_hot(rng.integers(0, N_CLASSES, N)))


def gradient_variants() -> dict[str, Callable]:
    found = {"float32": lambda p, X, Y: D.backward_float32(p, X, Y, REG)[0]}
    for parts in (1, 2, 3, 4):
        found[f"batch in {parts} parts"] = (
            lambda p, X, Y, parts=parts: D.backward_by_column_parts(p, X, Y, REG, parts))
    for parts in (2, 3, 4):
        found[f"hidden units in {parts} parts"] = (
            lambda p, X, Y, parts=parts: D.backward_by_hidden_parts(p, X, Y, REG, parts))
    return found


def step_variants() -> dict[str, Callable]:
    return {"float32": D.step_float32,
            **{f"batch in {k} parts": D.step_by_parts(k, False) for k in (2, 3)},
            **{f"hidden units in {k} parts": D.step_by_parts(k, True) for k in (2, 3)}}


def _step_verdicts(step, p, X, Y, dtype=None) -> list:
    """A step and its loss judged, and diagnosed where they fail (as `check step` does);
    dtype: the result rounded to it first (a bug computed in float64, stored in float32)."""
    updated, J = step(p, X, Y, REG, LR)
    if dtype is not None:
        updated, J = updated.astype(dtype), float(np.dtype(dtype).type(J))
    dtype = updated.W1.dtype
    verdicts = diagnose_network(bounds.compare_step(updated, p, X, Y, REG, LR), updated, p,
                                X, Y, REG, LR)
    return [*verdicts.values(), diagnose_loss(bounds.compare_loss(J, p, X, Y, REG, dtype), J,
                                              p, X, Y, REG, dtype)]


def _gradient_verdicts(backward, p, X, Y, dtype=None) -> list:
    grad = backward(p, X, Y, REG)
    grad = grad if dtype is None else grad.astype(dtype)
    return list(diagnose_network(bounds.compare_gradient(grad, p, X, Y, REG), grad, p, X, Y,
                                 REG).values())


def network_cases(quick: bool) -> list[Case]:
    cases = []
    shapes = [(1, 1), (4, 7), (16, 40)] if quick else [(1, 1), (4, 7), (16, 40), (33, 5),
                                                        (64, 100)]
    kinds = ("pixels",) if quick else ("pixels", "synthetic", "uniform")
    for (H, N), kind, seed in itertools.product(shapes, kinds, range(1 if quick else 2)):
        label = f"H {H}, N {N}, {kind}, seed {seed}"
        for name, backward in gradient_variants().items():
            def run(backward=backward, H=H, N=N, kind=kind, seed=seed):
                p, X, Y = network_problem(H, N, kind, seed)
                return bounds.compare_gradient(backward(p, X, Y), p, X, Y, REG).values()

            cases.append(Case("gradient", f"{name}, {label}", False, run))
        for name, step in step_variants().items():
            def run(step=step, H=H, N=N, kind=kind, seed=seed):
                return _step_verdicts(step, *network_problem(H, N, kind, seed))

            cases.append(Case("training step", f"{name}, {label}", False, run))
    cases += form_cases(quick)
    bugs = {name: f for name, (f, _) in D.GRADIENT_BUGS.items()} | D.MORE_GRADIENT_BUGS
    for (name, backward), dtype in itertools.product(bugs.items(), (np.float64, np.float32)):
        def bug(backward=backward, dtype=dtype):
            return _gradient_verdicts(backward, *network_problem(16, 40, "pixels", 7), dtype)

        cases.append(Case("gradient", f"{name} ({np.dtype(dtype).name})", True, bug,
                          cause=D.CAUSES[name]))
    for (name, step), dtype in itertools.product(D.STEP_BUGS.items(),
                                                 (np.float64, np.float32)):
        def bug(step=step, dtype=dtype):
            return _step_verdicts(step, *network_problem(16, 7, "pixels", 8), dtype)

        cases.append(Case("training step", f"{name} ({np.dtype(dtype).name})", True, bug,
                          cause=D.CAUSES[name]))
    return cases


# The honest forms of corpus/forms.py at extreme learning rates and L2 weights, H = 1, N = 1.
RATES = [(1e-3, 0.0), (1e-3, 1e-4), (0.5, 1e-2), (0.5, 1.0), (10.0, 1e-4), (10.0, 1.0)]
RATES_QUICK = [(1e-3, 0.0), (0.5, 1e-2), (10.0, 1.0)]
FORM_SHAPES = [(1, 1), (1, 5), (4, 1), (16, 40)]
FORM_SHAPES_QUICK = [(1, 1), (16, 40)]


def form_cases(quick: bool) -> list[Case]:
    """Every form's gradient (family "gradient") and step and loss ("training step")."""
    cases = []
    for (name, form), dtype, (lr, reg), (H, N) in itertools.product(
            F.FORMS.items(), (np.float32, np.float64), RATES_QUICK if quick else RATES,
            FORM_SHAPES_QUICK if quick else FORM_SHAPES):
        label = f"{name}, {np.dtype(dtype).name}, lr {lr:g}, lambda {reg:g}, H {H}, N {N}"

        def made(form=form, dtype=dtype, lr=lr, reg=reg, H=H, N=N):
            p, X, Y = network_problem(H, N, "pixels", H + N)
            return (p, X, Y), F.run(form, p, X, Y, reg, lr, dtype)

        def gradient(made=made, reg=reg):
            (p, X, Y), (grad, _, _) = made()
            return bounds.compare_gradient(grad, p, X, Y, reg).values()

        def step(made=made, lr=lr, reg=reg, dtype=dtype):
            (p, X, Y), (_, updated, J) = made()
            return [*bounds.compare_step(updated, p, X, Y, reg, lr).values(),
                    bounds.compare_loss(J, p, X, Y, reg, dtype)]

        cases += [Case("gradient", f"form: {label}", False, gradient),
                  Case("training step", f"form: {label}", False, step)]
    return cases


# --- MPI ---------------------------------------------------------------------------------------

# (images, batch, hidden): uneven splits over 2, 3 and 4 ranks and a last partial batch;
# H = 5 on 4 ranks; a batch of 2 (ranks without a column for P > 2). As tests/mpi.
MPI_PROBLEMS = [(23, 7, 5), (8, 3, 6), (5, 2, 4)]


def _mpi_verdicts(strategy, ranks: int, n: int, batch: int, H: int, teacher: bool,
                  steps: int | None = None, seed: int = 3) -> list:
    data = synthetic(n, seed=seed)
    p0 = network_problem(H, 1, "uniform", seed)[0]
    limit = -(-n // batch) if steps is None else steps

    def oracle(p, t):
        start, stop = t * batch, min(t * batch + batch, n)
        return oracle_step(p, data, start, stop, REG, LR, np.float64)

    found = run_ranks(ranks, lambda comm: M.trajectory(strategy, comm, data, p0, batch, REG,
                                                       LR, limit, teacher, oracle))[0]
    verdicts = []
    for t, before, J, after in found:
        start, stop = t * batch, min(t * batch + batch, n)
        verdicts += judge_step(after, J, before, data, start, stop, REG, LR,
                               np.float64).values()
    return verdicts


def mpi_cases(quick: bool) -> list[Case]:
    cases = []
    problems = MPI_PROBLEMS[:1] if quick else MPI_PROBLEMS
    for (name, strategy), ranks, (n, batch, H), teacher in itertools.product(
            M.STRATEGIES.items(), (1, 2, 3, 4), problems, (True, False)):
        mode = "teacher-forced" if teacher else "free-running"
        cases.append(Case("MPI", f"{name} parallelism, P = {ranks}, {n} images in batches of "
                          f"{batch}, H {H}, {mode}", False,
                          lambda strategy=strategy, ranks=ranks, n=n, batch=batch, H=H,
                          teacher=teacher: _mpi_verdicts(strategy, ranks, n, batch, H,
                                                         teacher)))
    for (name, bug), ranks in itertools.product(M.MPI_BUGS.items(), (2, 3, 4)):
        cases.append(Case("MPI", f"{name} (P = {ranks})", True,
                          lambda bug=bug, ranks=ranks: _mpi_verdicts(bug, ranks, 23, 7, 5,
                                                                     True, steps=1),
                          cause=M.cause(name, ranks)))
    cases.append(Case("MPI", "the last rank never updates (P = 3, free-running)", True,
                      lambda: _mpi_verdicts(M.LastRankKeepsOldParameters, 3, 23, 7, 5, False,
                                            steps=2)))
    cases.append(Case("MPI", "one rank of four counts its gradient twice", True,
                      lambda: _mpi_verdicts(M.RankTwoCountsItselfTwice, 4, 23, 7, 5, True,
                                            steps=1)))
    return cases


# --- evaluation ---------------------------------------------------------------------------------

@cache
def _trained(H: int) -> tuple[Params, Dataset]:
    """Parameters after one oracle epoch on mnist5k's training images, and its validation
    set: an evaluation worth checking (accuracy well above chance)."""
    split = load_mnist5k("unit", 0.1, 0)
    p = init_params(H, 0)
    train(p, split.train, None, epochs=1, batch=32, lr=1.0, reg=1e-4, progress=False)
    return p, split.val


def _evaluation_verdicts(evaluate, H: int, n: int) -> list:
    p, val = _trained(H)
    data = Dataset(val.images[:n], val.labels[:n])
    images, z2, predicted, accuracy = evaluate(p, data)
    dtype = np.asarray(z2).dtype
    X = data.X
    return [evaluation.compare_data(images, data.images), evaluation.compare_logits(z2, p, X),
            evaluation.compare_predictions(predicted, p, X, dtype),
            evaluation.compare_accuracy(accuracy, p, X, data.labels, dtype)]


def evaluation_cases(quick: bool) -> list[Case]:
    cases = []
    sizes = ((16, 100),) if quick else ((16, 100), (64, 500), (3, 37))
    for (name, evaluate), (H, n) in itertools.product(EV.HONEST.items(), sizes):
        cases.append(Case("evaluation", f"{name}, H {H}, {n} images", False,
                          lambda evaluate=evaluate, H=H, n=n: _evaluation_verdicts(evaluate,
                                                                                  H, n)))
    for name, evaluate in EV.BUGS.items():
        cases.append(Case("evaluation", name, True,
                          lambda evaluate=evaluate: _evaluation_verdicts(evaluate, 16, 100)))
    return cases


# --- GPU kernels (on the GPU, or in Numba's simulator) ----------------------------------------

KERNEL_SHAPE = (70, 17, 35)  # two or more blocks in each dimension for every algorithm


def kernel_verdict(algorithm: str, dtype) -> Verdict:
    """One of oraclenet.gpu's GEMM kernels on a ragged multi-block problem, alpha 2, beta 5."""
    from ..gpu.gemm import gemm

    A, B, C0, alpha, beta = gemm_problem("normal", KERNEL_SHAPE, dtype, 4, (2.0, 5.0))
    C = C0.copy()
    gemm(C, A, B, alpha, beta, algorithm=algorithm)
    return compare_gemm(C, A, B, C0, alpha, beta)


def kernel_cases(quick: bool) -> list[Case]:
    """The GEMM kernels of oraclenet.gpu and the planted ones, where kernels can run (the
    caller chose the target before numba loaded: gpu/target.py)."""
    from ..gpu.gemm import ALGORITHMS
    from ..gpu.options import device_error
    from .kernels import KERNEL_BUGS, KERNEL_CAUSES, launch_planted

    if device_error() is not None:
        return []
    cases = []
    algorithms = ("naive",) if quick else ALGORITHMS
    dtypes = (np.float64,) if quick else (np.float32, np.float64)
    for algorithm, dtype in itertools.product(algorithms, dtypes):
        def run(algorithm=algorithm, dtype=dtype):
            return [kernel_verdict(algorithm, dtype)]

        cases.append(Case("GEMM kernels", f"{algorithm}, {np.dtype(dtype).name}", False, run))
    for name in list(KERNEL_BUGS)[:1] if quick else KERNEL_BUGS:
        def bug(name=name):
            found = []
            for ab in ((2.0, 5.0), (2.0, 0.0)):
                A, B, C0, alpha, beta = gemm_problem("normal", KERNEL_SHAPE, np.float64, 5, ab)
                C = launch_planted(name, C0.copy(), A, B, alpha, beta)
                v = compare_gemm(C, A, B, C0, alpha, beta)
                found.append(v if v.passed else diagnose_gemm(
                    v, C, A, B, C0, alpha, beta,
                    rerun=launch_planted(name, C0.copy(), A, B, alpha, beta)))
            return found

        meant = (("precision",) if "float32 accumulation" in name
                 else ("rigorous", "statistical"))
        cases.append(Case("GEMM kernels", name, True, bug, meant, KERNEL_CAUSES[name]))
    return cases


def all_cases(quick: bool) -> list[Case]:
    return [*gemm_cases(np.float32, quick), *gemm_cases(np.float64, quick),
            *rowsum_cases(quick), *elementwise_cases(quick), *network_cases(quick),
            *mpi_cases(quick), *evaluation_cases(quick), *kernel_cases(quick)]
