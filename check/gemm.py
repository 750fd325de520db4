"""`oraclenet check gemm`: an outside GEMM against the oracle, case by case.

At set-up, the battery (GemmCase) is built from the sizes asked for and the calling
convention; at check time each case draws its seeded operands, calls the implementation
through its Arrays, and judges the C it returns (judge/roundoff.py: both tiers and the
precision test against the declared precision):

    ragged   shapes around the usual tile sizes (1, 2, 3, 15, 16, 17, 31, 33, 63, 65, 127,
             129), K = 1, M, N and K past hand-sized grids (300), the network's skinny
             shapes; alpha, beta (1, 0) and (2, 5)
    exact    integer operands whose every partial sum is exact: bit for bit
    nan      C poisoned with NaN and beta = 0: C's old value must not be read
    guard    C contiguous inside a larger buffer of sentinels, which must stay untouched
    trans    every transpose, for the inplace-trans convention
    chain    the course's test: alpha 2, beta 5, calls in place on the same C; each call
             judged from the C it started from, and the last C against the oracle's chain

Conventions: inplace f(C, A, B, alpha, beta); inplace-trans f(C, A, B, alpha, beta, transa,
transb), A and B stored transposed where asked; product f(A, B) -> C (alpha 1, beta 0).
"""

from __future__ import annotations

import functools
import itertools
import os
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from ..common.matrices import RawLayout, dump_rounding, named, read_matrix
from ..judge.diagnose import diagnose_gemm, spans
from ..judge.roundoff import (
    compare_bounded,
    compare_gemm,
    compare_gemm_chain,
    compare_gemm_exact,
    compare_unchanged,
    gemm_bound,
    gemm_ratio_map,
)
from ..judge.verdict import CannotJudge, Cause, Verdict
from .arrays import Arrays
from .native import ABIS
from .runner import BadResult, Battery, Outcome, judged
from .target import Implementation, Native, implementation

CONVENTIONS = {
    "inplace": ("C", "A", "B", "alpha", "beta"),
    "inplace-trans": ("C", "A", "B", "alpha", "beta", "transa", "transb"),
    "product": ("A", "B"),
}
SIZES = ("quick", "medium", "course", "full")
RAGGED = (1, 2, 3, 15, 16, 17, 31, 33, 63, 65, 127, 129)
# Past the grids that tutorials size by hand (10 x 10 blocks of 16 x 16 threads cover 160):
# M, N and K each above 256, the other two thin, so that a simulator takes seconds.
PAST_HAND_SIZED_GRIDS = ((300, 3, 5), (4, 300, 6), (7, 5, 300))
SENTINEL = -7.25  # exactly representable, and no GEMM of the battery's data lands on it
GUARD = 37  # sentinel elements on each side of C in the guard-band case
SPARE = 3  # a cblas library's arrays: leading dimension this much beyond the tight one
COURSE_CALLS = 10


@dataclass(frozen=True)
class GemmCase:
    """One call (or chain of calls) of the battery: C := alpha op(A) op(B) + beta C, with
    op(A) M x K and op(B) K x N."""

    kind: str
    M: int
    N: int
    K: int
    alpha: float = 1.0
    beta: float = 0.0
    transa: bool = False
    transb: bool = False
    calls: int = 1
    seed: int = 0

    @property
    def name(self) -> str:
        text = {"ragged": "ragged", "exact": "exact integers", "nan": "NaN in C",
                "guard": "guard band", "trans": "transposes", "chain": "course's chain"}[
                    self.kind]
        if self.transa or self.transb:
            text += f" ({'T' if self.transa else 'N'}{'T' if self.transb else 'N'})"
        if self.calls > 1:
            text += f", {self.calls} calls"
        return f"{text}, alpha {self.alpha:g} beta {self.beta:g}"

    @property
    def shape(self) -> str:
        return f"{self.M}x{self.N}x{self.K}"


def cases(sizes: str, convention: str) -> list[GemmCase]:
    """The cases for --sizes quick|course|full under a convention (product: alpha 1, beta 0,
    no C to poison, guard or chain; transposes only for inplace-trans)."""
    if sizes not in SIZES:
        raise ValueError(f"--sizes must be one of {', '.join(SIZES)}, got {sizes!r}")
    if convention not in CONVENTIONS:
        raise ValueError(f"--convention must be one of {', '.join(CONVENTIONS)}, "
                         f"got {convention!r}")
    product = convention == "product"
    ab = [(1.0, 0.0)] if product else [(1.0, 0.0), (2.0, 5.0)]
    shapes = [(1, 1, 1), (17, 15, 33), (33, 65, 31), (65, 17, 127), (16, 16, 1), (10, 33, 65),
              *PAST_HAND_SIZED_GRIDS]
    if sizes == "medium":  # the course's K = 784 and the network's H = 100, kept thin
        shapes += [(100, 6, 784), (10, 7, 100)]
    if sizes in ("course", "full"):  # the network's own: W1 X, W2 a1, dz2 a1^T, W2^T dz2
        shapes += [(100, 64, 784), (10, 64, 100), (10, 100, 64), (100, 64, 10)]
    if sizes == "full":
        shapes += [(m, n, k) for m, n, k in zip(RAGGED, RAGGED[3:] + RAGGED[:3],
                                                 RAGGED[7:] + RAGGED[:7], strict=True)]
    cases = [GemmCase("ragged", *s, *ab[i % len(ab)], seed=i) for i, s in enumerate(shapes)]
    cases.append(GemmCase("exact", 17, 31, 33, *((1.0, 0.0) if product else (2.0, 3.0))))
    if not product:
        cases += [GemmCase("nan", 33, 17, 15, 2.0, 0.0),
                  GemmCase("guard", 31, 33, 17, 2.0, 5.0),
                  GemmCase("chain", 40, 50, 39, 2.0, 5.0, calls=3)]
    if convention == "inplace-trans":
        trans_shapes = [(17, 33, 15)] + ([(65, 31, 129)] if sizes == "full" else [])
        cases += [GemmCase("trans", *s, 2.0, 5.0, ta, tb)
                  for s in trans_shapes for ta, tb in itertools.product((False, True), repeat=2)]
    if sizes in ("course", "full"):
        cases += [GemmCase("chain", 800, 1000, 784, 2.0, 5.0, calls=COURSE_CALLS),
                  GemmCase("chain", 800, 10, 1000, 2.0, 5.0, calls=COURSE_CALLS)]
    return cases


def not_applicable(convention: str) -> str | None:
    """Which of the battery's cases a convention leaves out, and why, in one line."""
    if convention == "product":
        return ("not applicable to --convention product, f(A, B) -> C: alpha 2 beta 5, NaN in "
                "C, guard band and the course's chain (no alpha, beta or C to read, guard or "
                "call again in place), transposes (inplace-trans only)")
    if convention == "inplace":
        return "not applicable to --convention inplace: transposes (inplace-trans only)"
    return None


@dataclass(frozen=True)
class GemmTarget:
    """The implementation and how to call it."""

    impl: Implementation
    convention: str = "inplace"
    arrays: Arrays = field(default_factory=Arrays)
    dtype: np.dtype = field(default_factory=lambda: np.dtype(np.float64))
    precision: str | None = None

    def call(self, C, A, B, alpha: float, beta: float, transa: bool, transb: bool
             ) -> tuple[np.ndarray, list[Verdict]]:
        """Call the implementation on its own copies of the host arrays (A, B stored as the
        transposes ask; for a compiled library, each inside a _Fence); the C it leaves or
        returns, on the host, and the failing verdicts of A or B modified and of elements
        written outside an array."""
        a, func = self.arrays, self.impl.func
        kept = {"A": a.ordered(A), "B": a.ordered(B)}
        fences: list[_Fence] = []

        def place(name: str, x: np.ndarray):
            if self.impl.native is None or a.kind != "numpy":
                return a.to_device(a.ordered(x))
            spare = SPARE if self.impl.native.abi == "cblas" else 0  # course's ld is tight
            fences.append(_Fence.around(name, a.ordered(x), a.order, spare))
            return fences[-1].view

        dA, dB = place("A", A), place("B", B)
        t = self.dtype.type
        if self.convention == "product":
            C = a.to_host(func(dA, dB))
            want = (A.shape[0], B.shape[1])
            if C.dtype.kind not in "fiub" or C.shape != want:
                raise BadResult(f"f(A, B) returned {type(C).__name__} of dtype {C.dtype} and "
                                f"shape {C.shape}, not a {want[0]} x {want[1]} real matrix")
        else:
            dC = place("C", C) if not isinstance(C, _Placed) else C.device
            if self.convention == "inplace":
                func(dC, dA, dB, t(alpha), t(beta))
            else:
                func(dC, dA, dB, t(alpha), t(beta), transa, transb)
            C = a.to_host(dC).copy() if not isinstance(C, _Placed) else C.host()
        modified = [compare_unchanged(name, after, kept[name])
                    for name, after in (("A", a.to_host(dA)), ("B", a.to_host(dB)))
                    if not np.array_equal(after, kept[name], equal_nan=True)]
        return C, modified + [v for v in (f.verdict() for f in fences) if not v.passed]


def target(impl: str | Callable, convention: str | None = None, arrays: str = "numpy",
           layout: str | None = None, dtype: str = "float64", precision: str | None = None,
           flag: str = "--impl", timeout: float | None = 300.0, abi: str | None = None
           ) -> GemmTarget:
    """The implementation (a callable, MODULE:FUNCTION imported in a child process within
    `timeout` seconds, or with `abi` a library's symbol) checked against its convention
    (default inplace; an ABI's own); a ValueError naming `flag` when it cannot be called that
    way. Layout: row by default, col for the course's ABI (which is column-major)."""
    native = None
    if abi is not None:
        if abi not in ABIS:
            raise ValueError(f"--abi must be one of {', '.join(ABIS)}, got {abi!r}")
        if convention not in (None, ABIS[abi]):
            raise ValueError(f"--convention {convention}: --abi {abi} calls the function as "
                             f"{ABIS[abi]} does; give one of them")
        if arrays != "numpy" and os.environ.get("NUMBA_ENABLE_CUDASIM") == "1":
            raise ValueError(f"--arrays {arrays}: a compiled library takes device pointers, "
                             "which Numba's simulator does not have; use --arrays numpy")
        if abi == "course" and layout == "row":
            raise ValueError("--layout row: the course's myGEMM is column-major (--abi course)")
        convention, layout = ABIS[abi], layout or ("col" if abi == "course" else "row")
        native = Native(abi, dtype, layout)
    convention, layout = convention or "inplace", layout or "row"
    if convention not in CONVENTIONS:
        raise ValueError(f"convention must be one of {', '.join(CONVENTIONS)}, "
                         f"got {convention!r}")
    found = implementation(impl, CONVENTIONS[convention], convention, flag, timeout,
                           _device_ready if arrays == "numba" else None, native)
    return GemmTarget(found, convention, Arrays(arrays, layout), np.dtype(dtype), precision)


def _device_ready() -> str | None:
    """Why Numba device arrays cannot be made here (asked in a child: CUDA is initialised
    there, never in the checking process), or None."""
    from ..gpu.options import device_error

    problem = device_error()
    return None if problem is None else f"--arrays numba: {problem}"


def battery(target: GemmTarget, sizes: str = "quick") -> Battery:
    """The cases for --sizes under the target's convention, and how to run one."""
    return Battery("GEMM", cases(sizes, target.convention), functools.partial(run_case, target),
                   not_applicable(target.convention))


@dataclass
class _Placed:
    """C as a view into a sentinel-filled buffer on the implementation's side."""

    buffer: object
    device: object
    arrays: Arrays

    def host(self) -> np.ndarray:
        return self.arrays.to_host(self.device)


def operands(case: GemmCase, dtype) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Seeded op(A) (M x K), op(B) (K x N), C0 (M x N) in dtype; small integers for exact."""
    rng = np.random.default_rng([case.seed, case.M, case.N, case.K])
    draw = ((lambda shape: rng.integers(-4, 5, shape).astype(np.float64))
            if case.kind == "exact" else rng.standard_normal)
    A, B, C0 = draw((case.M, case.K)), draw((case.K, case.N)), draw((case.M, case.N))
    if case.kind == "nan":
        C0 = np.full((case.M, case.N), np.nan)
    return A.astype(dtype), B.astype(dtype), C0.astype(dtype)


def run_case(target: GemmTarget, case: GemmCase) -> Outcome:
    """Draw, call, judge one case; a failing verdict is diagnosed (judge/diagnose.py), with
    the same call made again to see a race."""
    A, B, C0 = operands(case, target.dtype)
    stored_A = A.T if case.transa else A
    stored_B = B.T if case.transb else B
    modified = []

    def call(C):
        after, changed = target.call(C, stored_A, stored_B, case.alpha, case.beta,
                                     case.transa, case.transb)
        modified.extend(v for v in changed if v.check not in {m.check for m in modified})
        return after

    judge = functools.partial(compare_gemm, precision=target.precision, dtype=target.dtype)

    def diagnosed(v, C, before, judged_C0):
        if v.passed or v.cause is not None:
            return v
        again = call(before) if case.kind != "guard" else None
        return diagnose_gemm(v, C, A, B, judged_C0, case.alpha, case.beta, target.dtype,
                             target.precision, before, again)

    judge_C0 = np.zeros_like(C0) if case.kind == "nan" else C0
    if case.kind == "chain":
        chain = [C0]
        for _ in range(case.calls):
            chain.append(call(chain[-1]))
        verdicts = [diagnosed(judge(after, A, B, before, case.alpha, case.beta), after, before,
                              before) for before, after in itertools.pairwise(chain)]
        verdicts.append(_chain_cause(compare_gemm_chain(chain, A, B, case.alpha, case.beta,
                                                        target.precision), verdicts))
        return judged(case.name, case.shape, [*modified, *verdicts],
                      gemm_ratio_map(chain[-1], A, B, chain[-2], case.alpha, case.beta,
                                     target.precision), unwritten(chain[-1], chain[-2]))
    if case.kind == "guard":
        C, band = _guarded_call(target, case, C0, call)
        verdicts = [diagnosed(judge(C, A, B, C0, case.alpha, case.beta), C, C0, C0), band]
    else:
        C = call(C0)
        v = (compare_gemm_exact(C, A, B, C0, case.alpha, case.beta, target.dtype)
             if case.kind == "exact" else judge(C, A, B, judge_C0, case.alpha, case.beta))
        verdicts = [diagnosed(v, C, C0, judge_C0)]
    return judged(case.name, case.shape, [*modified, *verdicts],
                  gemm_ratio_map(C, A, B, judge_C0, case.alpha, case.beta, target.precision),
                  unwritten(C, C0))


def _chain_cause(v: Verdict, calls: list[Verdict]) -> Verdict:
    """The whole chain's verdict, failing, takes its cause from the first call that fails."""
    if v.passed:
        return v
    failed = next(((k, c) for k, c in enumerate(calls, 1) if not c.passed and c.cause), None)
    if failed is None:
        return replace(v, cause=Cause("unexplained", "every call within its own bound; only "
                                      "their accumulation is not"))
    k, c = failed
    return replace(v, cause=Cause(c.cause.name, f"from call {k}: {c.cause.evidence}"))


def unwritten(C, before) -> np.ndarray:
    """Elements still holding exactly what C held before the call (NaN as NaN): the heat
    map marks them."""
    C, before = np.asarray(C), np.asarray(before)
    return (C == before) | (np.isnan(C) & np.isnan(before))


def _outside_verdict(buffer: np.ndarray, inside: np.ndarray, name: str, check: str
                     ) -> Verdict:
    """The sentinels of `buffer` outside an array (its elements: the True of `inside`) must
    be untouched; where they were written (before the array, after its last element, in the
    gaps between its rows or columns) is the cause."""
    outside = buffer[~inside]
    v = compare_bounded(check, outside, np.full(outside.shape, SENTINEL), 0.0)
    if v.passed:
        return v
    first, last = np.flatnonzero(inside)[[0, -1]]
    hit = np.flatnonzero((buffer != SENTINEL) & ~inside)
    before, after = hit[hit < first] - first, hit[hit > last] - last
    between = hit.size - before.size - after.size
    where = "; ".join(w for w in (
        f"{before.size} before {name} (offsets {spans(before)})" if before.size else "",
        f"{after.size} after its last element (offsets +{spans(after)})" if after.size else "",
        f"{between} in the gaps between its rows or columns (a leading dimension ignored)"
        if between else "") if w)
    size = int(inside.sum())
    wider = (" (as many past its end as it holds, and it in full: elements written twice as "
             "wide as these, say double into float: is --dtype the function's?)"
             if buffer.dtype == np.float32 and after.size >= size - 1 and not before.size
             and not between else "")
    return replace(v, cause=Cause(f"writes outside {name}", f"{where}: an index past the edge "
                                                            f"of {name}{wider}"))


@dataclass
class _Fence:
    """A host array inside a sentinel-filled buffer as long again as the array on each
    side, for a compiled library: a write past an edge lands here, to be named, not in the
    heap (where it would corrupt whatever lies there, or abort the process later). With
    `spare`, the array's rows (columns, column-major) lie `spare` elements further apart than
    its width: a library must honour its leading-dimension argument (cblas's lda, ldb, ldc)."""

    name: str
    buffer: np.ndarray
    view: np.ndarray
    inside: np.ndarray  # the buffer's elements that are the array's

    @classmethod
    def around(cls, name: str, x: np.ndarray, order: str, spare: int = 0) -> _Fence:
        rows, cols = x.shape
        block = (rows, cols + spare) if order == "C" else (rows + spare, cols)
        size = block[0] * block[1]
        pad = max(GUARD, size)
        buffer = np.full(size + 2 * pad, SENTINEL, dtype=x.dtype)
        where = np.arange(buffer.size)[pad:pad + size].reshape(block, order=order)[:rows, :cols]
        view = buffer[pad:pad + size].reshape(block, order=order)[:rows, :cols]
        view[...] = x
        inside = np.zeros(buffer.size, bool)
        inside[where.ravel()] = True
        return cls(name, buffer, view, inside)

    def verdict(self) -> Verdict:
        return _outside_verdict(self.buffer, self.inside, self.name,
                                f"elements around {self.name}")


def _guarded_call(target: GemmTarget, case: GemmCase, C0: np.ndarray, call):
    """(C, the guard band's verdict) after a call on C placed inside a buffer of sentinels,
    GUARD of them on each side."""
    a, M, N = target.arrays, case.M, case.N
    host = np.full(M * N + 2 * GUARD, SENTINEL, dtype=target.dtype)
    host[GUARD:GUARD + M * N] = C0.ravel(order=a.order)
    buffer = a.to_device(host)
    C = call(_Placed(buffer, a.view(buffer, GUARD, (M, N)), a))
    inside = np.zeros(host.size, bool)
    inside[GUARD:GUARD + M * N] = True
    return C, _outside_verdict(a.to_host(buffer), inside, "C", "guard band")


# --- one call from files ----------------------------------------------------------------------

@dataclass(frozen=True)
class GemmFiles:
    """One call dumped by another program: A, B (as stored), C0 (C before) and C (after).
    Headerless binary files need raw (float32 or float64), dims (M, N, K) and order."""

    A: Path
    B: Path
    C0: Path
    C: Path
    alpha: float = 1.0
    beta: float = 0.0
    transa: bool = False
    transb: bool = False
    raw: str | None = None
    dims: tuple[int, int, int] | None = None
    order: str = "C"
    dtype: str | None = None  # the result's dtype where the file has none (text)
    precision: str | None = None

    def layout(self, name: str) -> RawLayout | None:
        if self.raw is None:
            return None
        if self.dims is None:
            raise ValueError("--raw needs --shape M,N,K (the GEMM's sizes)")
        M, N, K = self.dims
        shapes = {"A": (K, M) if self.transa else (M, K), "B": (N, K) if self.transb else (K, N),
                  "C0": (M, N), "C": (M, N)}
        return RawLayout(self.raw, shapes[name], self.order)


def _within_dump_rounding(C, A, B, C0, alpha: float, beta: float, digits: int, dtype
                          ) -> bool:
    """Whether C may be an honest product of the values the printed A, B and C0 were
    rounded from: each printed number within half a unit of its last digit, eps = 10^(1-d)/2
    relative, so C may differ from alpha A B + beta C0 by the GEMM's own bound (gemm_bound)
    plus ((1+eps)^2 - 1) |alpha| |A| |B| + eps (|beta| |C0| + |C|), elementwise."""
    eps = 0.5 * 10.0 ** (1 - digits)
    A, B, C0, C = (np.asarray(x, np.float64) for x in (A, B, C0, C))
    abs_product = np.abs(A) @ np.abs(B)
    allowed = gemm_bound(A, B, C0, alpha, beta, dtype, abs_product=abs_product)
    allowed += ((1 + eps) ** 2 - 1) * abs(alpha) * abs_product
    allowed += eps * (abs(beta) * np.abs(C0) + np.abs(C))
    return bool(np.all(np.abs(C - (alpha * (A @ B) + beta * C0)) <= allowed))


def judge_files(files: GemmFiles) -> Outcome:
    """Read the four matrices, check that they chain, judge C."""
    read = {}
    for name in ("A", "B", "C0", "C"):
        path, array = named(str(getattr(files, name)))
        read[name] = read_matrix(path, files.layout(name), array, raw_flags=True)
    A = read["A"].T if files.transa else read["A"]
    B = read["B"].T if files.transb else read["B"]
    C0, C = read["C0"], read["C"]
    if A.shape[1] != B.shape[0]:
        raise ValueError(f"{files.A} and {files.B}: op(A) is {A.shape[0]} x {A.shape[1]} and "
                         f"op(B) {B.shape[0]} x {B.shape[1]}: they do not chain")
    for name, m in (("C0", C0), ("C", C)):
        if m.shape != (A.shape[0], B.shape[1]):
            raise ValueError(f"{getattr(files, name)}: {name} is {m.shape[0]} x {m.shape[1]}, "
                             f"op(A) op(B) is {A.shape[0]} x {B.shape[1]}")
    shape = f"{A.shape[0]}x{B.shape[1]}x{A.shape[1]}"
    verdict = compare_gemm(C, A, B, C0, files.alpha, files.beta, precision=files.precision,
                           dtype=files.dtype)
    verdict = diagnose_gemm(verdict, C, A, B, C0, files.alpha, files.beta, files.dtype,
                            files.precision)
    dtype = np.dtype(files.dtype or C.dtype)
    rounded = None if verdict.passed else dump_rounding(
        [named(str(getattr(files, n)))[0] for n in ("A", "B", "C0", "C")], dtype)
    if rounded is not None and _within_dump_rounding(C, A, B, C0, files.alpha, files.beta,
                                                     rounded[0], dtype):
        raise CannotJudge(f"cannot judge {files.C}: {rounded[1]}. The difference from the "
                          "oracle lies within what that rounding allows")
    return judged(f"{files.C.name}, alpha {files.alpha:g} beta {files.beta:g}", shape,
                  [verdict], gemm_ratio_map(C, A, B, C0, files.alpha, files.beta,
                                            files.precision), unwritten(C, C0))
