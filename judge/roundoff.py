"""Roundoff-aware comparison: is a difference from the float64 oracle roundoff, or a bug?

Every comparison returns a Verdict (judge/verdict.py): per tier, the worst ratio error /
allowed over all elements, where it occurs with both values. Sums are judged by two tiers:

    rigorous     |C - C_ref| <= gamma_{K+2} scale          any order, FMA or not
    statistical  |C - C_ref| <= gamma~_{K+2}(lambda) scale honest roundoff, but for 2e^(-lambda^2/2)

with scale = |alpha| |A||B| + |beta| |C0| (GEMM) or |x| 1 (row sums), gamma_n = n u /
(1 - n u) (Higham 2002, 3.1 and 3.5) and gamma~_n(lambda) = lambda sqrt(n) u + gamma_n - n u,
derived in tolerances.toml [statistical]. Where the statistical model's independence breaks
(terms absorbed by a large partial sum, repeated terms), the statistical bound is widened or
falls back to the rigorous one for that element (widen_statistical). A GEMM verdict also
carries the result's effective precision and a precision test (judge/precision.py).

    exact     integer-valued inputs whose every partial sum is representable: bit for bit
    ulps      elementwise functions: integer ulp distance from the oracle rounded to the dtype

The oracle's own float64 roundoff is added to each bound, so a float64 kernel is judged
against its own bound plus gamma(u_64), not against a reference that is itself inexact.
"""

from __future__ import annotations

import math

import numpy as np

from . import precision as precision_test
from .precision import FORMATS, Format
from .tolerances import tolerance
from .verdict import (
    QUIET,
    CannotJudge,
    Cause,
    Precision,
    Verdict,
    assert_passes,
    judge_elements,
)

__all__ = [
    "CannotJudge",
    "Verdict",
    "assert_passes",
    "compare_bounded",
    "compare_gemm",
    "compare_gemm_exact",
    "compare_rowsum",
    "compare_ulps",
    "compare_unchanged",
    "gamma",
    "gamma_tilde",
    "ulp_distance",
    "unit_roundoff",
]

FLOATS = (np.dtype(np.float32), np.dtype(np.float64))
_UINT = {np.dtype(np.float32): np.uint32, np.dtype(np.float64): np.uint64}
_INT = {np.dtype(np.float32): np.int32, np.dtype(np.float64): np.int64}
NAN_ULPS = np.iinfo(np.uint64).max


def _float_dtype(dtype) -> np.dtype:
    dtype = np.dtype(dtype)
    if dtype not in FLOATS:
        raise TypeError(f"expected float32 or float64, got {dtype}")
    return dtype


def unit_roundoff(dtype) -> float:
    """u = 2^-p: 2^-24 for float32, 2^-53 for float64."""
    return float(np.finfo(_float_dtype(dtype)).eps) / 2


def gamma_u(n: int, u: float) -> float:
    """gamma_n = n u / (1 - n u), the bound on n accumulated roundings (requires n u < 1)."""
    if n * u >= 1:
        raise ValueError(f"gamma_{n} is undefined at u = {u:g}: n u = {n * u} >= 1")
    return n * u / (1 - n * u)


def gamma(n: int, dtype) -> float:
    """gamma_n for dtype's unit roundoff."""
    return gamma_u(n, unit_roundoff(dtype))


def gamma_tilde(n: int, dtype, stat_lambda: float | None = None) -> float:
    """The statistical tier's gamma_n: lambda sqrt(n) u + (gamma_n - n u), the first-order
    random walk plus the whole second-order remainder (tolerances.toml [statistical]); never
    above gamma_n, which holds always (below n = lambda^2 the random walk is no tighter)."""
    u = unit_roundoff(dtype)
    stat_lambda = tolerance("statistical.lambda") if stat_lambda is None else stat_lambda
    return min(stat_lambda * math.sqrt(n) * u + (gamma(n, dtype) - n * u), gamma(n, dtype))


def ulp_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Number of representable numbers between a and b (same float dtype), as uint64.

    Correct across zero and sign (+0 and -0 are 0 apart); NaN on either side gives the
    largest uint64, so NaN never passes.
    """
    a, b = np.asarray(a), np.asarray(b)
    if a.dtype != b.dtype:
        raise TypeError(f"ulp distance needs one dtype, got {a.dtype} and {b.dtype}")
    dtype = _float_dtype(a.dtype)
    ia, ib = (x.view(_INT[dtype]).astype(np.int64) for x in (a, b))
    magnitude = np.int64(np.iinfo(_INT[dtype]).max)
    # Sign-magnitude bit patterns to a monotone integer line: -x maps to -(bits of x).
    oa = np.where(ia < 0, -(ia & magnitude), ia)
    ob = np.where(ib < 0, -(ib & magnitude), ib)
    if dtype == np.float64:  # the difference can exceed int64: subtract modulo 2^64
        hi, lo = np.maximum(oa, ob).view(np.uint64), np.minimum(oa, ob).view(np.uint64)
        with np.errstate(over="ignore"):
            dist = np.subtract(hi, lo)
    else:
        dist = np.abs(oa - ob).astype(np.uint64)
    return np.where(np.isnan(a) | np.isnan(b), NAN_ULPS, dist)


def judged_dtype(actual, declared=None) -> tuple[np.dtype, Cause | None]:
    """(the dtype a result is judged in, why it fails whatever its values or None): the
    declared dtype (default: the result's own), and a result in a coarser one than declared
    fails, named ("returned float32; declared float64")."""
    got = np.asarray(actual).dtype
    if got.kind not in "fiub":
        raise ValueError(f"the result is of dtype {got}, not real numbers")
    if declared is None:
        return _float_dtype(got), None
    want = _float_dtype(declared)
    if got.kind != "f" or np.finfo(got).nmant < np.finfo(want).nmant:
        return want, Cause("coarser dtype", f"returned {got}; declared {want}")
    return want, None


@QUIET
def compare_unchanged(check: str, after, before) -> Verdict:
    """An input the implementation must only read, bit for bit as it was given (NaN as NaN);
    the first changed element is the verdict's index."""
    after, before = np.asarray(after), np.asarray(before)
    _check_shape(after, before.shape, check)

    def raw(x: np.ndarray) -> np.ndarray:  # each element's bytes, whatever x's memory order
        return np.ascontiguousarray(x).view(np.uint8).reshape(*x.shape, -1)

    changed = (raw(after) != raw(before)).any(axis=-1) if after.dtype == before.dtype \
        else np.ones(after.shape, bool)
    error = np.where(changed, np.inf, 0.0)
    cause = None
    if changed.any():
        first = tuple(int(i) for i in np.unravel_index(np.argmax(changed), changed.shape))
        cause = Cause("argument modified", f"the implementation modified {check}, which it "
                      "must only read: "
                 f"{int(changed.sum())} of {changed.size} elements changed, the first at "
                      f"{first}: {float(before[first])!r} before, {float(after[first])!r} after")
    return judge_elements(f"{check} unchanged", after, np.nan_to_num(before), error, 0.0,
                          cause=cause)


def _check_shape(actual: np.ndarray, shape: tuple, what: str) -> None:
    if actual.shape != shape:
        raise ValueError(f"{what}: result has shape {actual.shape}, expected {shape}")


@QUIET
def compare_bounded(check: str, actual, expected, allowed, statistical=None,
                    precision: Precision | None = None, cause: Cause | None = None) -> Verdict:
    """Elementwise |actual - expected| <= allowed (the rigorous tier) and <= statistical
    (where given), with the error taken in float64; and the precision test where given.
    `cause`: why actual fails whatever its values."""
    actual = np.asarray(actual)
    expected = np.asarray(expected, dtype=np.float64)
    _check_shape(actual, expected.shape, check)
    with np.errstate(over="ignore", invalid="ignore"):  # inf - inf: NaN, judged below
        error = np.abs(actual.astype(np.float64) - expected)
    error = np.where(np.isnan(error), np.inf, error)
    return judge_elements(check, actual, expected, error, allowed, statistical, precision,
                          cause)


CHUNK = 1 << 22  # terms examined at once when the statistical bound is widened
BLOCK = 1 << 14  # elements of an operand whose magnitudes are taken at once


def widen_statistical(error: np.ndarray, rigorous: np.ndarray, statistical: np.ndarray,
                      terms, u: float) -> np.ndarray:
    """The statistical bound where the independence model breaks, decided element by element
    where the error exceeds the plain statistical bound but not the rigorous one (elsewhere
    the verdict cannot change):

    - a term below 4 u times the element's scale can be absorbed whole by a partial sum, its
      rounding error systematic (equal to the term), not random: such terms are added to the
      bound at three times their size (a rounding error of s + t is at most (2 + u)|t| once
      |t| > u|s| / 2, and |t| itself below that);
    - terms that repeat (a quarter or fewer distinct values among the nonzero ones: constant
      operands, stagnating sums) round in a pattern: the rigorous bound stands.

    terms(flat_indices) gives those elements' summed terms, one row each (float64). A
    statistical bound given whole (its own float64 array of error's shape) is widened in
    place."""
    whole = (isinstance(statistical, np.ndarray) and statistical.shape == error.shape
             and statistical.dtype == np.float64 and statistical.flags.writeable)
    widened = statistical if whole else np.array(np.broadcast_to(statistical, error.shape),
                                                 dtype=np.float64)
    rigorous = np.broadcast_to(rigorous, error.shape)
    candidates = np.flatnonzero((error > widened) & (error <= rigorous))
    if candidates.size == 0:
        return widened
    width = terms(candidates[:1]).shape[1]
    for start in range(0, candidates.size, max(1, CHUNK // width)):
        chunk = candidates[start:start + max(1, CHUNK // width)]
        t = np.abs(terms(chunk))
        absorbable = np.where(t <= 4 * u * t.sum(axis=1, keepdims=True), t, 0.0).sum(axis=1)
        ordered = np.sort(t, axis=1)
        nonzero = np.count_nonzero(ordered, axis=1)
        distinct = (np.count_nonzero(np.diff(ordered, axis=1), axis=1)
                    + (ordered[:, 0] != 0))  # changes between sorted values, zeros left out
        repeated = (nonzero > 0) & (distinct <= np.maximum(1, nonzero // 4))
        flat_rigorous = rigorous.flat[chunk]
        widened.flat[chunk] = np.where(repeated, flat_rigorous, np.minimum(
            flat_rigorous, widened.flat[chunk] + 3 * absorbable))
    return widened


def finite_inputs(check: str, **inputs) -> None:
    """CannotJudge naming the first input (a scalar or an array) that holds NaN or inf: the
    bounds are derived for finite inputs, and the oracle's value would not be one."""
    for name, x in inputs.items():
        x = np.asarray(x, dtype=np.float64)
        bad = np.flatnonzero(~np.isfinite(x))
        if bad.size:
            at = tuple(int(i) for i in np.unravel_index(bad[0], x.shape))
            raise CannotJudge(f"cannot judge {check}: {name} holds {x.flat[bad[0]]}"
                              + (f" at {at} ({bad.size} non-finite elements)" if x.ndim else "")
                              + ": its inputs must be finite")


def _gemm_operands(A, B, C0, beta):
    A, B = np.asarray(A), np.asarray(B)
    if A.ndim != 2 or B.ndim != 2 or A.shape[1] != B.shape[0]:
        raise ValueError(f"GEMM operands must be M x K and K x N, got {A.shape} and {B.shape}")
    shape = (A.shape[0], B.shape[1])
    if C0 is None:
        if beta != 0:
            raise ValueError("beta != 0 needs C0, the value of C before the call")
        C0 = np.zeros(shape)
    C0 = np.asarray(C0)
    _check_shape(C0, shape, "GEMM C0")
    if beta == 0:  # C is not read when beta is 0 (BLAS): whatever it held, NaN too
        C0 = np.zeros(shape)
    A, B, C0 = (np.asarray(x, dtype=np.float64) for x in (A, B, C0))
    finite_inputs("the GEMM", A=A, B=B, C0=C0, beta=beta)
    return A, B, C0


def _magnitude(x64: np.ndarray, given) -> np.ndarray:
    """|x64|, in place where x64 is a float64 copy of the caller's `given`, not `given`."""
    return np.abs(x64, out=x64) if x64 is not given and not np.may_share_memory(
        x64, np.asarray(given)) else np.abs(x64)


def _declared(precision: str | None, dtype) -> Format:
    if precision is None:
        return FORMATS["float64" if np.dtype(dtype) == np.float64 else "float32"]
    if precision not in FORMATS:
        raise ValueError(f"precision must be one of {', '.join(FORMATS)}, got {precision!r}")
    return FORMATS[precision]


def gemm_bound(A, B, C0, alpha: float, beta: float, dtype, factor: float | None = None,
               precision: str | None = None, statistical: bool = False,
               abs_product: np.ndarray | None = None) -> np.ndarray:
    """Allowed |C - C_ref| for C := alpha A B + beta C0 computed in dtype, elementwise.

    Rigorous: gamma_{K+2} at the accumulation's u: K products summed in any order (an FMA
    only removes roundings), then the scaling by alpha and the addition of beta C0; a
    precision that rounds its inputs at u_in (TF32, bfloat16) multiplies each product by at
    most (1 + u_in)^2. Statistical: lambda (sqrt(2) u_in + sqrt(K + 2) u) plus the same
    second-order remainder. Plus the float64 oracle's own gamma, and gradual underflow in
    either: a product that underflows errs by up to one smallest subnormal eta, whichever
    factor alpha meets first, so eta (K max(1, |alpha|) + sum_k |a_ik| + sum_k |b_kj| + 1)
    (alpha times a sum of underflowed products, (alpha A) B or A (alpha B), beta C0).
    """
    A, B, C0 = _gemm_operands(A, B, C0, beta)
    K = A.shape[1]
    f = _declared(precision, dtype)
    factor = tolerance("gemm.factor") if factor is None else factor
    abs_product = np.abs(A) @ np.abs(B) if abs_product is None else abs_product  # |A||B|
    eta = float(np.finfo(dtype).smallest_subnormal) + float(
        np.finfo(np.float64).smallest_subnormal)
    accumulation = gamma_u(K + 2, f.u_acc)
    inputs = (1 + f.u_in) ** 2 - 1
    rigorous = inputs + accumulation + inputs * accumulation
    if statistical:
        stat_lambda = tolerance("statistical.lambda")
        first_order = 2 * f.u_in + (K + 2) * f.u_acc
        relative = min(rigorous, stat_lambda * (math.sqrt(2) * f.u_in + math.sqrt(K + 2) * f.u_acc)
                       + (rigorous - first_order))
    else:
        relative = rigorous
    # factor ((relative + gamma_64) scale + underflow), built in one array (a bound of an
    # 8192^2 C is half a gigabyte: no temporary of its size beyond |beta C0|)
    bound = np.multiply(abs_product, abs(alpha))
    if beta != 0:
        for rows in _row_blocks(C0):
            bound[rows] += abs(beta) * np.abs(C0[rows])
    bound *= relative + gamma(K + 2, np.float64)
    bound += eta * (K * max(1.0, abs(alpha)) + 1)
    bound += eta * np.concatenate([np.abs(A[rows]).sum(axis=1) for rows in _row_blocks(A)]
                                  )[:, None]
    bound += eta * sum(np.abs(B[rows]).sum(axis=0) for rows in _row_blocks(B))
    bound *= factor
    return bound


def _row_blocks(x: np.ndarray):
    """Slices of x's rows, BLOCK elements or so each: |x| taken a block at a time, never
    as a temporary of x's size (a C of 8192^2 is half a gigabyte in float64)."""
    step = max(1, BLOCK // max(1, x.shape[1]))
    return [slice(start, start + step) for start in range(0, max(1, x.shape[0]), step)]


@QUIET
def compare_gemm(actual, A, B, C0=None, alpha: float = 1.0, beta: float = 0.0,
                 factor: float | None = None, precision: str | None = None,
                 dtype=None) -> Verdict:
    """Judge C = alpha A B + beta C0 (A: M x K and B: K x N, already transposed as op
    requires; C0: C before the call) against the float64 oracle: both tiers, the effective
    precision, and the precision test against `precision` (default: the declared `dtype`'s,
    which defaults to C's; e.g. "tf32" for a kernel meant to round its inputs to TF32, judged
    against that precision's bounds). A C coarser than the declared dtype fails, named."""
    actual = np.asarray(actual)
    dtype, cause = judged_dtype(actual, dtype)
    f = _declared(precision, dtype)
    finite_inputs("the GEMM", alpha=alpha)
    A64, B64, C064 = _gemm_operands(A, B, C0, beta)
    _check_shape(actual, (A64.shape[0], B64.shape[1]), "gemm")
    expected = A64 @ B64  # the verdict's two GEMMs: this, and |A||B|
    expected *= alpha
    if beta != 0:
        expected += beta * C064
    # From here A and B are needed as magnitudes (taken in place where they are our float64
    # copies) and, for the precision test and the widened tier, as the caller's arrays.
    A64, B64 = (_magnitude(x64, x) for x64, x in ((A64, A), (B64, B)))
    abs_product = A64 @ B64
    rigorous = gemm_bound(A64, B64, C064, alpha, beta, dtype, factor, precision,
                          abs_product=abs_product)
    statistical = gemm_bound(A64, B64, C064, alpha, beta, dtype, factor, precision,
                             statistical=True, abs_product=abs_product)
    del abs_product, A64, B64
    A, B = np.asarray(A), np.asarray(B)
    error = actual.astype(np.float64)  # |C - expected|, NaN as inf, in place
    error -= expected
    np.abs(error, out=error)
    error[np.isnan(error)] = np.inf

    def terms(flat: np.ndarray) -> np.ndarray:
        i, j = np.unravel_index(flat, error.shape)
        return np.column_stack([alpha * np.asarray(A[i, :], np.float64) * B[:, j].T,
                                beta * C064[i, j]])

    statistical = widen_statistical(error, rigorous, statistical, terms, f.u_acc)
    analysed = actual if actual.dtype == dtype else actual.astype(dtype)  # in the declared
    found = precision_test.analyse(analysed, A, B, C064, alpha, beta, f.name)
    return judge_elements(f"gemm {dtype}", actual, expected, error, rigorous, statistical,
                          found, cause)


@QUIET
def compare_gemm_chain(chain, A, B, alpha: float, beta: float,
                       precision: str | None = None) -> Verdict:
    """Judge the last C of n calls in place, C_k := alpha A B + beta C_{k-1} (chain: C_0 ..
    C_n, as computed; A: M x K and B: K x N, transposed as op requires), against the
    oracle's chain from the same C_0. Call k errs by at most its gemm_bound from C_{k-1}, and
    beta carries that error into every later call: |C_n - oracle| <= sum_k |beta|^(n-k)
    bound_k, in each tier. The course's GEMM test is n = 10, alpha = 2, beta = 5."""
    chain = [np.asarray(C) for C in chain]
    if len(chain) < 2:
        raise ValueError("a chain needs C before the first call and after at least one")
    actual = chain[-1]
    dtype = _float_dtype(actual.dtype)
    finite_inputs("the GEMM chain", alpha=alpha)
    A64, B64, expected = _gemm_operands(A, B, chain[0], beta)
    _check_shape(actual, expected.shape, "gemm chain")
    product = alpha * (A64 @ B64)
    rigorous, statistical = np.zeros(expected.shape), np.zeros(expected.shape)
    for before in chain[:-1]:
        expected = product + beta * expected
        carry = abs(beta)
        rigorous = carry * rigorous + gemm_bound(A, B, before, alpha, beta, dtype,
                                                 precision=precision)
        statistical = carry * statistical + gemm_bound(A, B, before, alpha, beta, dtype,
                                                       precision=precision, statistical=True)
    error = np.where(np.isnan(actual), np.inf, np.abs(actual.astype(np.float64) - expected))
    return judge_elements(f"gemm chain of {len(chain) - 1} calls {dtype}", actual, expected,
                          error, rigorous, statistical)


@QUIET
def gemm_ratio_map(actual, A, B, C0=None, alpha: float = 1.0, beta: float = 0.0,
                   precision: str | None = None) -> np.ndarray:
    """|C - C_ref| / the statistical bound, elementwise (M x N, float64; NaN as inf): where a
    failing GEMM went wrong, for a heat map."""
    actual = np.asarray(actual)
    dtype = _float_dtype(actual.dtype)
    A64, B64, C064 = _gemm_operands(A, B, C0, beta)
    _check_shape(actual, (A64.shape[0], B64.shape[1]), "gemm")
    expected = alpha * (A64 @ B64) + beta * C064
    error = np.where(np.isnan(actual), np.inf, np.abs(actual.astype(np.float64) - expected))
    allowed = gemm_bound(A, B, C0, alpha, beta, dtype, precision=precision, statistical=True)
    with np.errstate(all="ignore"):
        return np.where(error == 0, 0.0, error / allowed)


def exact_limit(dtype) -> float:
    """Integers up to 2^p are exact in a p-bit significand."""
    return 2.0 ** (np.finfo(_float_dtype(dtype)).nmant + 1)


@QUIET
def compare_gemm_exact(actual, A, B, C0=None, alpha: float = 1.0, beta: float = 0.0,
                       dtype=None) -> Verdict:
    """Exact mode: integer-valued alpha, beta, A, B, C0 with |alpha||A||B| + |beta||C0| below
    2^p, so every product and partial sum is exact in any order; C must equal the oracle
    bit for bit (+0 and -0 are not told apart: their sign depends on the summation order).
    A C coarser than the declared dtype (default: C's) fails, named."""
    actual = np.asarray(actual)
    dtype, cause = judged_dtype(actual, dtype)
    A64, B64, C064 = _gemm_operands(A, B, C0, beta)
    for name, x in (("A", A64), ("B", B64), ("C0", C064), ("alpha", alpha), ("beta", beta)):
        if not np.all(np.isfinite(x) & (np.asarray(x) == np.round(x))):
            raise ValueError(f"exact mode needs integer values; {name} has others")
    peak = float((abs(alpha) * (np.abs(A64) @ np.abs(B64)) + abs(beta) * np.abs(C064)).max(
        initial=0.0))
    if peak >= exact_limit(dtype):
        raise ValueError(f"exact mode needs |alpha||A||B| + |beta||C0| < 2^"
                         f"{np.finfo(dtype).nmant + 1} for {dtype}, got {peak:.3g}")
    expected = alpha * (A64 @ B64) + beta * C064
    return compare_bounded(f"gemm exact {dtype}", actual, expected, 0.0, cause=cause)


@QUIET
def compare_rowsum(actual, x, factor: float | None = None) -> Verdict:
    """Judge row sums of x (M x n) in actual's dtype: |s - s_ref| <= f gamma_n |x| 1
    (rigorous) and f gamma~_n |x| 1 (statistical, widened where the model breaks), and the
    sums' effective precision (judge/precision.py).

    actual may be M or M x 1. gamma_{n-1} suffices for n - 1 additions; gamma_n leaves room
    for one more rounding (a scaled or converted result)."""
    actual = np.asarray(actual)
    dtype = _float_dtype(actual.dtype)
    x64 = np.asarray(x, dtype=np.float64)
    n = x64.shape[1]
    factor = tolerance("rowsum.factor") if factor is None else factor
    expected = x64.sum(axis=1).reshape(actual.shape)
    scale = np.abs(x64).sum(axis=1).reshape(actual.shape)
    underflow = n * float(np.finfo(dtype).smallest_subnormal)
    oracle = gamma(n, np.float64) * scale + underflow
    rigorous = factor * (gamma(n, dtype) * scale + oracle)
    statistical = factor * (gamma_tilde(n, dtype) * scale + oracle)
    error = np.where(np.isnan(actual), np.inf,
                     np.abs(actual.astype(np.float64) - expected))
    rows = x64.reshape(actual.size, n)
    statistical = widen_statistical(error, rigorous, statistical, lambda flat: rows[flat],
                                    unit_roundoff(dtype))
    return judge_elements(f"rowsum {dtype}", actual, expected, error, rigorous, statistical,
                          precision_test.analyse_sums(actual, x64))


@QUIET
def compare_ulps(actual, expected, max_ulps: float | np.ndarray,
                 check: str = "ulps") -> Verdict:
    """Elementwise ulp distance between actual and expected rounded to actual's dtype, against
    max_ulps (a number, or one per element)."""
    actual = np.asarray(actual)
    dtype = _float_dtype(actual.dtype)
    expected = np.asarray(expected)
    _check_shape(actual, expected.shape, check)
    rounded = expected.astype(dtype)
    distance = ulp_distance(actual, rounded)
    error = np.where(distance == NAN_ULPS, np.inf, distance.astype(np.float64))
    return judge_elements(f"{check} {dtype}", actual, rounded, error, max_ulps)
