"""Roundoff-aware comparison: is a difference from the float64 oracle roundoff, or a bug?

Every comparison returns a Verdict: the worst ratio error / allowed over all elements, where
it occurs with both values, and pass (ratio <= 1) or fail. The allowed error is a rigorous
bound (Higham 2002, sections 2.2, 3.1, 3.5) times a factor from tolerances.toml:

    GEMM      |C - C_ref| <= f gamma_{K+2} (|alpha| |A||B| + |beta| |C0|)   (any order, FMA or not)
    row sums  |s - s_ref| <= f gamma_{n} |x| 1
    exact     integer-valued inputs whose every partial sum is representable: bit for bit
    ulps      elementwise functions: integer ulp distance from the oracle rounded to the dtype

The oracle's own float64 roundoff is added to each bound, so a float64 kernel is judged
against gamma(u) + gamma(u_64), not against a reference that is itself inexact.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .tolerances import tolerance

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


def gamma(n: int, dtype) -> float:
    """gamma_n = n u / (1 - n u), the bound on n accumulated roundings (requires n u < 1)."""
    u = unit_roundoff(dtype)
    if n * u >= 1:
        raise ValueError(f"gamma_{n} is undefined for {np.dtype(dtype)}: n u = {n * u} >= 1")
    return n * u / (1 - n * u)


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


@dataclass(frozen=True)
class Verdict:
    """The outcome of one comparison; str() says what failed, where and by how much."""

    check: str
    passed: bool
    ratio: float  # max over elements of error / allowed (inf where allowed is 0 and error not)
    index: tuple[int, ...]  # where the ratio is worst
    actual: float
    expected: float
    error: float
    allowed: float
    n_failed: int
    size: int

    def __str__(self) -> str:
        status = "pass" if self.passed else "FAIL"
        return (f"{self.check}: {status}, worst ratio {self.ratio:.3g} (error/allowed) at "
                f"{self.index}: actual {self.actual!r}, expected {self.expected!r}, "
                f"error {self.error:.3g}, allowed {self.allowed:.3g}; "
                f"{self.n_failed} of {self.size} elements outside the bound")


def assert_passes(verdict: Verdict) -> None:
    """Raise AssertionError with the verdict's explanation when it failed."""
    if not verdict.passed:
        raise AssertionError(str(verdict))


def _verdict(check: str, actual: np.ndarray, expected: np.ndarray, error: np.ndarray,
             allowed: np.ndarray) -> Verdict:
    error = np.asarray(error, dtype=np.float64)
    allowed = np.broadcast_to(np.asarray(allowed, dtype=np.float64), error.shape)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(error == 0, 0.0, error / allowed)
    ratio = np.where(np.isnan(ratio), np.inf, ratio)
    if ratio.size == 0:
        return Verdict(check, True, 0.0, (), np.nan, np.nan, 0.0, 0.0, 0, 0)
    flat = int(np.argmax(ratio))
    index = tuple(int(i) for i in np.unravel_index(flat, ratio.shape))
    worst = float(ratio.flat[flat])
    return Verdict(check=check, passed=worst <= 1.0, ratio=worst, index=index,
                   actual=float(actual.flat[flat]), expected=float(expected.flat[flat]),
                   error=float(error.flat[flat]), allowed=float(allowed.flat[flat]),
                   n_failed=int(np.count_nonzero(ratio > 1.0)), size=ratio.size)


def _check_shape(actual: np.ndarray, shape: tuple, what: str) -> None:
    if actual.shape != shape:
        raise ValueError(f"{what}: result has shape {actual.shape}, expected {shape}")


def compare_bounded(check: str, actual, expected, allowed) -> Verdict:
    """Elementwise |actual - expected| <= allowed, with the error taken in float64."""
    actual = np.asarray(actual)
    expected = np.asarray(expected, dtype=np.float64)
    _check_shape(actual, expected.shape, check)
    error = np.abs(actual.astype(np.float64) - expected)
    error = np.where(np.isnan(actual), np.inf, error)
    return _verdict(check, actual, expected, error, allowed)


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
    return A.astype(np.float64), B.astype(np.float64), C0.astype(np.float64)


def gemm_bound(A, B, C0, alpha: float, beta: float, dtype, factor: float | None = None
               ) -> np.ndarray:
    """Allowed |C - C_ref| for C := alpha A B + beta C0 computed in dtype, elementwise.

    gamma_{K+2}: K products summed in any order (an FMA only removes roundings), then the
    scaling by alpha and the addition of beta C0. Plus the float64 oracle's own gamma, and
    (K+2) smallest subnormals against gradual underflow.
    """
    A, B, C0 = _gemm_operands(A, B, C0, beta)
    K = A.shape[1]
    factor = tolerance("gemm.factor") if factor is None else factor
    scale = abs(alpha) * (np.abs(A) @ np.abs(B)) + abs(beta) * np.abs(C0)
    underflow = (K + 2) * float(np.finfo(dtype).smallest_subnormal)
    return factor * ((gamma(K + 2, dtype) + gamma(K + 2, np.float64)) * scale + underflow)


def compare_gemm(actual, A, B, C0=None, alpha: float = 1.0, beta: float = 0.0,
                 factor: float | None = None) -> Verdict:
    """Judge C = alpha A B + beta C0 (A: M x K and B: K x N, already transposed as op
    requires; C0: C before the call) against the float64 oracle and gemm_bound."""
    actual = np.asarray(actual)
    dtype = _float_dtype(actual.dtype)
    A64, B64, C064 = _gemm_operands(A, B, C0, beta)
    expected = alpha * (A64 @ B64) + beta * C064
    allowed = gemm_bound(A, B, C0, alpha, beta, dtype, factor)
    return compare_bounded(f"gemm {dtype}", actual, expected, allowed)


def exact_limit(dtype) -> float:
    """Integers up to 2^p are exact in a p-bit significand."""
    return 2.0 ** (np.finfo(_float_dtype(dtype)).nmant + 1)


def compare_gemm_exact(actual, A, B, C0=None, alpha: float = 1.0, beta: float = 0.0
                       ) -> Verdict:
    """Exact mode: integer-valued alpha, beta, A, B, C0 with |alpha||A||B| + |beta||C0| below
    2^p, so every product and partial sum is exact in any order; C must equal the oracle
    bit for bit (+0 and -0 are not told apart: their sign depends on the summation order)."""
    actual = np.asarray(actual)
    dtype = _float_dtype(actual.dtype)
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
    return compare_bounded(f"gemm exact {dtype}", actual, expected, 0.0)


def compare_rowsum(actual, x, factor: float | None = None) -> Verdict:
    """Judge row sums of x (M x n) in actual's dtype: |s - s_ref| <= f gamma_n |x| 1.

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
    allowed = factor * ((gamma(n, dtype) + gamma(n, np.float64)) * scale + underflow)
    return compare_bounded(f"rowsum {dtype}", actual, expected, allowed)


def compare_ulps(actual, expected, max_ulps: float, check: str = "ulps") -> Verdict:
    """Elementwise ulp distance between actual and expected rounded to actual's dtype."""
    actual = np.asarray(actual)
    dtype = _float_dtype(actual.dtype)
    expected = np.asarray(expected)
    _check_shape(actual, expected.shape, check)
    rounded = expected.astype(dtype)
    distance = ulp_distance(actual, rounded)
    error = np.where(distance == NAN_ULPS, np.inf, distance.astype(np.float64))
    return _verdict(f"{check} {dtype}", actual, rounded, error, max_ulps)
