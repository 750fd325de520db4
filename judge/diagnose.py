"""Which bug? A failing GEMM verdict tested against a catalogue of causes, each a hypothesis
that either explains the result to roundoff (the residual after the hypothesis lies within
the rigorous bound everywhere) or not. The first that explains it is named, with its
evidence; none: "unexplained", with the pattern of the failing elements.

    race                     two runs of the same call differ by more than roundoff
    C read when beta is 0    C's old value (NaN, or garbage) came out though beta is 0
    elements never written   equal to exactly C's old value, 0 or the poison, where the
                             oracle's is not: how many, which rows, columns and tiles
    alpha or beta misapplied alpha missing or twice, beta missing, taken as 1, twice, applied
                             to the product, alpha to C, the two swapped
    K terms missing          the sum over a prefix of K (the loop stopped at k)
    K terms added twice      an extra K range (a..b added again)
    operand transposed or wrongly strided   A or B read transposed or in the other order
    misplaced rows or columns              a block of C holding another block's values
    blocks written twice or never          blocks that overlap (C updated in place twice
                             there) and part of C that no block reaches
    isolated wrong elements  a few elements wrong, the rest right: listed
    precision downgrade      only where a precision model explains every error
    unexplained              none of these: the pattern

Writes outside C are the guard band's verdict (check/gemm.py names the offsets). The
rigorous tier's meaning ("certainly a bug") and the cause are different lines of a verdict.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools

import numpy as np

from .precision import FORMATS, round_significand
from .roundoff import gemm_bound, judged_dtype
from .tolerances import tolerance
from .verdict import QUIET, Cause, Verdict

MIN_SIDE = 16  # the smaller side of C from which a residual's rank says anything
SAMPLE = 16  # failing elements whose K sums are searched for a prefix or a repeated range
ISOLATED = 5  # at most this many wrong elements are "isolated"
TILES = (8, 16, 32, 64, 128, 256)  # tile sizes a boundary is named by


def spans(indices) -> str:
    """0..3, 7, 9..12: sorted integers as runs."""
    values = sorted(set(int(i) for i in indices))
    runs, start = [], None
    for a, b in itertools.zip_longest(values, values[1:]):
        start = a if start is None else start
        if b is None or b != a + 1:
            runs.append(f"{start}" if start == a else f"{start}..{a}")
            start = None
    return ", ".join(runs[:6]) + (f" and {len(runs) - 6} more runs" if len(runs) > 6 else "")


def _tile_note(edge: int, size: int, what: str) -> str:
    """", from column 48, a multiple of 16" for a region starting at a tile boundary."""
    if edge == 0 or edge >= size:
        return ""
    tile = max((t for t in TILES if edge % t == 0), default=None)
    return f"; it starts at {what} {edge}, a multiple of {tile}" if tile else ""


def region(mask: np.ndarray) -> str:
    """Where the True elements of an M x N mask lie, in words."""
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    M, N = mask.shape
    n = int(mask.sum())
    named = lambda what, at: f"{what if at.size > 1 else what[:-1]} {spans(at)}"  # noqa: E731
    if n == M * N:
        return "every element"
    if n == rows.size * N:
        return f"{named('rows', rows)} (every column){_tile_note(int(rows[0]), M, 'row')}"
    if n == cols.size * M:
        return (f"{named('columns', cols)} (every row)"
                f"{_tile_note(int(cols[0]), N, 'column')}")
    if n == rows.size * cols.size:
        return (f"{named('rows', rows)}, {named('columns', cols)}"
                f"{_tile_note(int(cols[0]), N, 'column') or _tile_note(int(rows[0]), M, 'row')}")
    return f"{named('rows', rows)}, {named('columns', cols)} ({n} elements)"


@dataclasses.dataclass
class Problem:
    """One GEMM call as the diagnosis sees it, in float64: C := alpha A B + beta C0, with
    `before` the C the implementation was given (C0, or a poison such as NaN where beta is
    0) and the rigorous bound of the declared dtype and precision."""

    C: np.ndarray
    A: np.ndarray
    B: np.ndarray
    C0: np.ndarray
    before: np.ndarray
    alpha: float
    beta: float
    dtype: np.dtype
    precision: str | None

    @functools.cached_property
    def product(self) -> np.ndarray:
        return self.A @ self.B

    @functools.cached_property
    def abs_product(self) -> np.ndarray:
        return np.abs(self.A) @ np.abs(self.B)

    @functools.cached_property
    def expected(self) -> np.ndarray:
        return self.alpha * self.product + self.beta * self.C0

    @functools.cached_property
    def own_bound(self) -> np.ndarray:
        return gemm_bound(self.A, self.B, self.C0, self.alpha, self.beta, self.dtype,
                          precision=self.precision, abs_product=self.abs_product)

    def bound(self, alpha=None, beta=None, precision=None) -> np.ndarray:
        """The rigorous bound of C := alpha A B + beta C0 (default: the declared call)."""
        if alpha is None and beta is None and precision is None:
            return self.own_bound
        return gemm_bound(self.A, self.B, self.C0, self.alpha if alpha is None else alpha,
                          self.beta if beta is None else beta, self.dtype,
                          precision=precision or self.precision, abs_product=self.abs_product)

    def fits(self, H: np.ndarray, bound: np.ndarray | None = None) -> bool:
        """C equals H within the rigorous bound everywhere (NaN matches nothing)."""
        bound = self.bound() if bound is None else bound
        return bool(np.all(np.abs(self.C - H) <= bound))

    def explains(self, H: np.ndarray, bound: np.ndarray | None = None) -> bool:
        """H fits C, and H is not the oracle's result within the bound (a hypothesis that
        changes nothing on these operands, beta C0 with C0 = 0 say, explains nothing)."""
        bound = self.bound() if bound is None else bound
        return self.fits(H, bound) and not bool(np.all(np.abs(self.expected - H) <= bound))


def _race(p: Problem, rerun) -> Cause | None:
    if rerun is None:
        return None
    rerun = np.asarray(rerun, dtype=np.float64)
    same = (np.abs(p.C - rerun) <= p.bound()) | (np.isnan(p.C) & np.isnan(rerun))
    if same.all():
        return None
    return Cause("race", f"two runs of the same call differ in {int((~same).sum())} of "
                 f"{same.size} elements, in {region(~same)} (a missing barrier, or threads "
                 "writing the same element)")


def _c_read(p: Problem, bad: np.ndarray) -> Cause | None:
    if p.beta != 0:
        return None
    poisoned = np.isnan(p.before) | np.isinf(p.before)
    leaked = bad & poisoned & ~np.isfinite(p.C)
    if leaked.any() and leaked.sum() == poisoned.sum():  # a region of NaN: never written
        return Cause("C read when beta is 0", f"C's old non-finite values came out in "
                     f"{int(leaked.sum())} of {leaked.size} elements: when beta is 0, C "
                     "must not be read (BLAS: C need not be set on input), since 0 x NaN is "
                     "NaN")
    if not poisoned.any() and p.explains(p.expected + p.before):
        return Cause("C read when beta is 0", "C equals alpha A B plus C's old values: beta "
                     "was applied as 1, or C read and added")
    return None


def _unwritten(p: Problem, bad: np.ndarray) -> Cause | None:
    E = p.expected
    kept = (p.C == p.before) | (np.isnan(p.C) & np.isnan(p.before))
    zero = p.C == 0
    untouched = bad & (kept | zero)
    if not bad.any() or (untouched != bad).any():
        return None
    if p.beta == 0 and not np.isfinite(p.before).any() and untouched.all():
        return None  # every element still the poison: C read (or nothing written at all)
    what = ("C's old value" if (untouched & kept).all() else
            "0" if (untouched & zero).all() else "C's old value or 0")
    differs = untouched & (E != p.C)
    return Cause("elements never written",
                 f"{int(untouched.sum())} of {untouched.size} elements hold exactly {what} "
                 f"where the oracle's value is not, in {region(differs)} (a guard like "
                 "`row > M`, a grid sized by hand or from the wrong dimension)")


def _twice_or_never(p: Problem, bad: np.ndarray) -> Cause | None:
    """Blocks indexed with the wrong stride: where blocks overlap, C updated in place twice
    (alpha A B + beta (alpha A B + beta C0)); where none reaches, never written."""
    if p.beta == 0 or not bad.any():
        return None
    twice = np.abs(p.C - (p.alpha * p.product + p.beta * p.expected)) <= p.bound(
        p.alpha * (1 + abs(p.beta)), p.beta * p.beta)
    never = (p.C == p.before) | (np.isnan(p.C) & np.isnan(p.before))
    if not (bad & twice).any() or (bad & ~(twice | never)).any():
        return None
    said = [f"{int((bad & twice).sum())} updated in place twice, in {region(bad & twice)}"]
    if (bad & never).any():
        said.append(f"{int((bad & never).sum())} never written, in {region(bad & never)}")
    return Cause("blocks written twice or never", "; ".join(said) + " (blocks indexed with "
                 "the wrong stride: some overlap, some part of C is reached by none)")


def _alpha_beta(p: Problem) -> Cause | None:
    a, b = p.alpha, p.beta
    candidates = [("alpha left out", 1.0, b), ("alpha applied twice", a * a, b),
                  ("beta left out (C's old value not added)", a, 0.0),
                  ("beta taken as 1", a, 1.0), ("beta applied twice", a, b * b),
                  ("beta applied to the product too", a * b, b),
                  ("alpha applied to C too", a, a * b), ("alpha and beta swapped", b, a)]
    AB = p.product
    for name, a2, b2 in candidates:
        if (a2, b2) == (a, b):
            continue
        if p.explains(a2 * AB + b2 * p.C0, np.maximum(p.bound(), p.bound(a2, b2))):
            return Cause("alpha or beta misapplied",
                         f"{name}: C = {a2:g} A B + {b2:g} C0 to roundoff (declared alpha "
                         f"{a:g}, beta {b:g})")
    return None


def _k_ranges(p: Problem, bad: np.ndarray) -> Cause | None:
    """A prefix of K (the loop stopped early) or a K range added twice, found on a sample of
    failing elements from their partial sums, then tried on the whole of C."""
    K = p.A.shape[1]
    if K < 2 or not bad.any():
        return None
    rows, cols = np.nonzero(bad)
    pick = np.linspace(0, rows.size - 1, min(SAMPLE, rows.size)).astype(int)
    i, j = rows[pick], cols[pick]
    partial = np.concatenate([np.zeros((i.size, 1)),
                              np.cumsum(p.alpha * p.A[i, :] * p.B[:, j].T, axis=1)], axis=1)
    rest = p.beta * p.C0[i, j]
    bound = p.bound()[i, j]
    target = p.C[i, j]
    # a prefix: C = alpha sum_{k < s} a b + beta C0, the same s for every sampled element
    fits = np.abs(partial + rest[:, None] - target[:, None]) <= bound[:, None]
    stops = np.flatnonzero(fits.all(axis=0))
    for s in stops[::-1]:
        if s < K and p.explains(p.alpha * (p.A[:, :s] @ p.B[:s]) + p.beta * p.C0):
            tile = max((t for t in TILES if s % t == 0 and s), default=None)
            why = (f" (the sum stopped at a multiple of {tile}: a K loop bounded by whole "
                   "tiles or by the grid)" if tile else "")
            return Cause("K terms missing",
                         f"C is the sum over k < {s} of {K}: the last {K - s} "
                         f"term{'s are' if K - s > 1 else ' is'} missing{why}")
    # a range added twice: C = full + alpha sum_{a <= k < b} a b, one (a, b) for all
    full = partial[:, -1] + rest
    step = 1 if K <= 512 else 8  # every end, or tile-like ones and the last and first few
    ends = np.union1d(np.arange(0, K + 1, step),
                      np.r_[np.arange(0, min(K, 16) + 1), np.arange(max(K - 16, 0), K + 1)])
    extra = partial[:, ends][:, None, :] - partial[:, ends][:, :, None]  # [e, a, b]
    ok = np.abs(full[:, None, None] + extra - target[:, None, None]) <= bound[:, None, None]
    pairs = np.argwhere(np.triu(ok.all(axis=0), 1))
    for a_i, b_i in pairs:
        a, b = int(ends[a_i]), int(ends[b_i])
        H = p.expected + p.alpha * (p.A[:, a:b] @ p.B[a:b])
        if p.explains(H):
            return Cause("K terms added twice",
                         f"C is the full sum plus terms k = {a}..{b - 1} of {K} again (a loop "
                         "bound past the end over a clamped index, or a tile read twice)")
    return None


def _operands(p: Problem) -> Cause | None:
    M, K = p.A.shape
    N = p.B.shape[1]
    flip = {"C": "F", "F": "C"}
    candidates = []
    if M == K:
        candidates.append(("A used transposed", p.A.T, p.B))
    if K == N:
        candidates.append(("B used transposed", p.A, p.B.T))
    for order in ("C", "F"):
        candidates.append((f"A's memory read in {'column' if order == 'C' else 'row'}-major "
                           "order", p.A.ravel(order).reshape((M, K), order=flip[order]), p.B))
        candidates.append((f"B's memory read in {'column' if order == 'C' else 'row'}-major "
                           "order", p.A, p.B.ravel(order).reshape((K, N), order=flip[order])))
    for name, A, B in candidates:
        H = p.alpha * (A @ B) + p.beta * p.C0
        bound = gemm_bound(A, B, p.C0, p.alpha, p.beta, p.dtype, precision=p.precision)
        if p.explains(H, np.maximum(bound, p.bound())):
            return Cause("operand transposed or wrongly strided",
                         f"{name}: C = alpha op(A) op(B) + beta C0 to roundoff with it")
    return None


def _misplaced(p: Problem, bad: np.ndarray) -> Cause | None:
    """Failing rows (or columns) that hold the oracle's values of other rows, one shift: the
    first failing line's source found among all lines, then every failing line tried."""
    E, bound = p.expected, p.bound()
    for axis, what in ((0, "rows"), (1, "columns")):
        lines = np.flatnonzero(bad.any(axis=1 - axis))
        if lines.size == 0:
            continue
        first = np.take(p.C, lines[:1], axis=axis)
        close = np.abs(first - E) <= np.take(bound, lines[:1], axis=axis)
        for source in np.flatnonzero(close.all(axis=1 - axis)):
            shift = int(lines[0] - source)
            src = lines - shift
            if shift == 0 or (src < 0).any() or (src >= E.shape[axis]).any():
                continue
            moved = np.take(E, src, axis=axis)
            if np.all(np.abs(np.take(p.C, lines, axis=axis) - moved)
                      <= np.take(bound, lines, axis=axis)):
                return Cause("misplaced rows or columns",
                             f"{what} {spans(lines)} hold the oracle's {what} {spans(src)} "
                             f"({abs(shift)} {'before' if shift > 0 else 'after'} them: a "
                             "block indexed with the wrong stride)")
    return None


def _isolated(p: Problem, bad: np.ndarray) -> Cause | None:
    n = int(bad.sum())
    if not 0 < n <= ISOLATED or n > bad.size // 2:  # a few among many: most of C is right
        return None
    E, bound = p.expected, p.bound()
    listed = "; ".join(f"[{i}, {j}]: actual {float(p.C[i, j])!r}, expected "
                       f"{float(E[i, j])!r}, allowed {bound[i, j]:.3g}"
                       for i, j in np.argwhere(bad))
    return Cause("isolated wrong elements", f"{n} of {bad.size} elements wrong, the rest "
                 f"right: {listed}")


def _precision(p: Problem, v: Verdict) -> Cause | None:
    for fmt in ("float32", "bfloat16"):  # alpha and beta held in a narrower type
        if fmt == "float32" and p.dtype == np.float32:
            continue
        a, b = (float(round_significand(np.array([x], np.float32),
                                        FORMATS[fmt].drop)[0]) if fmt == "bfloat16"
                else float(np.float32(x)) for x in (p.alpha, p.beta))
        if (a, b) != (p.alpha, p.beta) and p.explains(a * p.product + b * p.C0):
            return Cause("precision downgrade", f"alpha and beta held in {fmt}: C = {a!r} A B "
                         f"+ {b!r} C0 to roundoff (declared {p.alpha!r} and {p.beta!r})")
    if _structured(p.C - p.expected):
        return None
    model = v.precision_model
    if model is None or model in ("unexplained", p.precision or judged_dtype(p.C, p.dtype)[0]
                                  .name):
        return None
    if v.precision.ratio is None or v.precision.ratio <= 1:
        return None
    try:
        bound = p.bound(precision=model)
    except ValueError:  # K u >= 1 in that model: its worst case bounds nothing, so it fits
        bound = np.full(p.C.shape, np.inf)
    if p.fits(p.expected, bound):
        return Cause("precision downgrade", f"every error within the bounds of {model}: "
                     f"{v.precision.describe()} ({v.precision.evidence})")
    return None


def _structured(r: np.ndarray) -> bool:
    """Whether a residual is a pattern, not rounding: its top three singular values carry
    more than [diagnosis] low_rank_share of its energy (independent rounding errors spread
    theirs over every one). Decided from MIN_SIDE x MIN_SIDE up; below, not at all."""
    M, N = r.shape
    if min(M, N) < MIN_SIDE or not np.all(np.isfinite(r)):
        return False
    rows = np.linspace(0, M - 1, min(M, 256)).astype(int)
    cols = np.linspace(0, N - 1, min(N, 256)).astype(int)
    s = np.linalg.svd(r[np.ix_(rows, cols)], compute_uv=False) ** 2
    return bool(s.sum() > 0 and s[:3].sum() > tolerance("diagnosis.low_rank_share") * s.sum())


def _pattern(p: Problem, bad: np.ndarray) -> Cause:
    E, bound = p.expected, p.bound()
    with np.errstate(all="ignore"):
        ratio = np.abs(p.C - E)[bad] / bound[bad]
    nan = int((bad & ~np.isfinite(p.C)).sum())
    return Cause("unexplained", f"{int(bad.sum())} of {bad.size} elements outside the bound, "
                 f"in {region(bad)}; their error is {np.nanmin(ratio):.3g} to "
                 f"{np.nanmax(ratio):.3g} times allowed"
                 + (f"; {nan} are NaN or infinite" if nan else ""))


@QUIET
def diagnose_gemm(v: Verdict, C, A, B, C0, alpha: float, beta: float, dtype=None,
                  precision: str | None = None, before=None, rerun=None) -> Verdict:
    """v with its cause: the catalogue tried in order on C = alpha A B + beta C0 (A: M x K,
    B: K x N, transposed as op requires), `before` the C the implementation was given (C0's
    values, or a poison), `rerun` the C of the same call made again (a race) if there is one.
    A passing verdict, or one whose cause is known already, is returned as it is."""
    if v.passed or v.cause is not None:
        return v
    A64, B64 = (np.asarray(x, dtype=np.float64) for x in (A, B))
    C064 = np.asarray(C0, dtype=np.float64)
    p = Problem(np.asarray(C, dtype=np.float64), A64, B64, C064,
                C064 if before is None else np.asarray(before, dtype=np.float64),
                alpha, beta, judged_dtype(C, dtype)[0], precision)
    bad = ~(np.abs(p.C - p.expected) <= p.bound())
    cause = (_race(p, rerun) or _unwritten(p, bad) or _c_read(p, bad) or _alpha_beta(p)
             or _twice_or_never(p, bad)
             or _k_ranges(p, bad) or _operands(p) or _misplaced(p, bad) or _precision(p, v)
             or _isolated(p, bad))
    if cause is None:
        cause = _pattern(p, bad) if bad.any() else Cause(
            "unexplained", "every element within the rigorous bound, but the errors are "
                           f"larger than the declared precision's ({v.precision.describe()})"
            if v.precision is not None else "every element within the rigorous bound")
    return dataclasses.replace(v, cause=cause)
