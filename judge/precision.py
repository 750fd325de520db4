"""The effective precision of a GEMM result: how many significand bits it behaves as if it
were computed with, and the precision model that best explains it.

Magnitudes alone cannot tell a float32 accumulation from TF32 inputs at large K. But rounding
the inputs is a deterministic function of them, so the residual r = C - C_ref of a GEMM whose
inputs were rounded to a format f follows d_f = C_f - C_ref, the product of the inputs rounded
to f (both computed exactly enough in float64), while honest float32 rounding is blind to d_f.
The slope of r on d_f is 1 with nearly all of r explained in the first case, 0 in the second,
and over thousands of elements its z-score decides even where the magnitudes overlap:

  1. C_ref: the product in float64 (for a float32 result) or in long double (for a float64
     one, where long double is wider; else C_ref is float64 and the bits are a lower bound).
  2. For each input format (TF32 and bfloat16, rounded to nearest or truncated): the slope
     beta of r on d_f, its z-score and the share of r it explains (R^2). The best candidate
     whose z exceeds z* and that explains at least half of r is the model; its bits are the
     format's, less log2(beta).
  3. Otherwise the residual is accumulation noise. Its rms is compared with the rms of the
     same product accumulated in the result's dtype in two orders (one by one, and by BLAS);
     beyond the larger, each factor of 2 is one bit less (below the smaller, one more), and
     the bits name the model: 53 float64, 24 float32, 11 float16-accumulation.

The precision test against a declared format D (default: the result's dtype) has the ratio
  max(z / z*  for an input format coarser than D's,  rms(r) / (slack rms_allowed(D)))
where rms_allowed(D) is the larger accumulation rms in D's accumulation precision combined
with D's own input rounding (tolerances.toml [precision]); the rms part only over at least
min_elements() elements, below which an rms is too noisy to test.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .tolerances import tolerance
from .verdict import Precision

LONG = np.longdouble
EXTENDED = np.finfo(LONG).nmant > np.finfo(np.float64).nmant  # x86: 64-bit significand


@dataclass(frozen=True)
class Format:
    """A precision model: inputs rounded at u_in (0: as given), sums accumulated at u_acc."""

    name: str
    bits: int
    u_in: float
    u_acc: float
    drop: int = 0  # float32 significand bits the input rounding removes


FORMATS = {f.name: f for f in (
    Format("float64", 53, 0.0, 2.0 ** -53),
    Format("float32", 24, 0.0, 2.0 ** -24),
    Format("tf32", 11, 2.0 ** -11, 2.0 ** -24, drop=13),
    Format("bfloat16", 8, 2.0 ** -8, 2.0 ** -24, drop=16),
    Format("float16-accumulation", 11, 0.0, 2.0 ** -11),
)}
INPUT_FORMATS = ("tf32", "bfloat16")
IDENTIFIABLE = 1e-6  # share of d_f's energy that must lie outside [1, c] to be evidence
MIN_FIT = 8  # elements below which a regression on three columns says nothing
# The bits each accumulation model shows: its nominal bits give or take 3, and down to 5 for
# float16, whose partial sums of same-sign terms soon absorb whole terms (the error grows
# faster than u, so a float16 accumulation can look worse than 11 bits, never better).
MODEL_BITS = {"float64": (50, 56), "float32": (21, 27), "float16-accumulation": (5, 14)}


def round_significand(x: np.ndarray, drop: int, truncate: bool = False) -> np.ndarray:
    """float32 x with the last `drop` of its 23 explicit significand bits cut: rounded to
    nearest (ties to even) or truncated toward zero. TF32: drop 13; bfloat16: drop 16."""
    bits = np.asarray(x, np.float32).view(np.uint32).astype(np.uint64)
    if not truncate:
        bits = bits + ((1 << (drop - 1)) - 1) + ((bits >> drop) & 1)
    bits &= ~np.uint64((1 << drop) - 1)
    return bits.astype(np.uint32).view(np.float32)


def reference(A, B, C0, alpha: float, beta: float, dtype) -> np.ndarray:
    """alpha A B + beta C0, more accurately than dtype: float64 for float32 results, long
    double (where wider) for float64 ones."""
    t = wide(dtype)
    A, B, C0 = (np.asarray(x, dtype=t) for x in (A, B, C0))
    return t(alpha) * (A @ B) + t(beta) * C0


ORDERS = ("one by one", "BLAS", "into C")


def sequential(d: np.ndarray, a: np.ndarray, start: np.ndarray | None = None) -> np.ndarray:
    """sum_k d[:, k] a[:, k]^T one by one: each product rounded to d's dtype and added in turn
    to the running sum (from `start`, else 0) in d's dtype (m x n, from d: m x K and a:
    n x K). A loop over K of m x n work: the callers' m x n is a sample of at most 64 x 64,
    so this costs little beside a GEMM and holds nothing larger than the result."""
    acc = np.zeros((d.shape[0], a.shape[0]), d.dtype) if start is None else np.array(
        start, d.dtype)
    dT, aT = np.ascontiguousarray(d.T), np.ascontiguousarray(a.T, dtype=d.dtype)
    for k in range(dT.shape[0]):
        acc += np.multiply.outer(dT[k], aT[k])
    return acc


def accumulated(A, B, C0, alpha: float, beta: float, dtype, order: str) -> np.ndarray:
    """alpha A B + beta C0 computed in dtype: the K products summed one by one and then
    scaled, by BLAS, or into C: C scaled by beta first and each alpha a_ik b_kj added to it
    in turn (the reference BLAS's DGEMM, whose partial sums carry beta C0's size)."""
    A, B, C0 = (np.asarray(x, dtype=dtype) for x in (A, B, C0))
    t = np.dtype(dtype).type
    if order == "BLAS":
        return t(alpha) * (A @ B) + t(beta) * C0
    if order == "into C":
        return sequential(A, (t(alpha) * B).T, t(beta) * C0)
    return t(alpha) * sequential(A, B.T) + t(beta) * C0


def _rms(x: np.ndarray) -> float:
    """Root mean square, scaled by the largest magnitude so that no square overflows or
    underflows (a garbage or extreme result's rms is its true size, inf only for inf)."""
    x = np.asarray(x, dtype=np.float64)
    top = float(np.max(np.abs(x), initial=0.0))
    if top == 0.0 or not math.isfinite(top):
        return top
    return top * float(np.sqrt(np.mean(np.square(x / top))))


def _z_star() -> float:
    """The normal quantile of the two-sided false alarm: norm.isf(alarm / 2), from
    scipy.special (importing scipy.stats costs every judging process most of a second)."""
    from scipy.special import ndtri

    return float(-ndtri(tolerance("precision.false_alarm") / 2))


def min_elements() -> int:
    """The fewest elements whose rms the accumulation check compares: the squared ratio of
    two rms over n independent normal errors of equal variance is F(n, n), so n must make
    P(F(n, n) > slack^2) at most the test's false alarm (34 for slack 4 and 1e-12). Fewer
    elements are judged by the error tiers alone; their bits are still reported."""
    from scipy.special import fdtrc  # F(n, n)'s survival function: scipy.stats' f.sf

    slack, alarm = tolerance("precision.slack"), tolerance("precision.false_alarm")
    n = 2
    while fdtrc(n, n, slack ** 2) > alarm:
        n += 1
    return n


def _accumulation_ratio(observed: float, allowed: float) -> float:
    return observed / allowed if allowed > 0 else math.inf


@dataclass(frozen=True)
class Fit:
    """The residual regressed on an input format's pattern d_f, beside a constant and the
    reference itself (so that a bias, or an error proportional to the result such as a
    rounded alpha, is not taken for the pattern): d_f's coefficient, its z-score, and the
    share of what the nuisances leave that d_f explains."""

    format: str
    truncate: bool
    beta: float
    z: float
    explained: float

    def describe(self) -> str:
        how = "truncated" if self.truncate else "rounded to nearest"
        return (f"the residual follows {self.format} inputs {how} (slope {self.beta:.2f}, "
                f"z = {self.z:.3g}, {self.explained:.0%} of it explained)")


def fit_input_format(r: np.ndarray, d: np.ndarray, c: np.ndarray, name: str,
                     truncate: bool) -> Fit:
    """Least squares of r on [d, 1, c] (all flattened, float64), through d's part that the
    nuisances [1, c] do not already describe. A pattern that is constant, or proportional to
    the result (constant or two-valued operands), carries no evidence: z = 0."""
    r, d, c = (np.ravel(x) for x in (r, d, c))
    n = r.size
    nuisance = np.column_stack([np.ones(n), c / max(float(np.abs(c).max()), 1e-300)])

    def without_nuisance(v: np.ndarray) -> np.ndarray:
        return v - nuisance @ np.linalg.lstsq(nuisance, v, rcond=None)[0]

    d_own = without_nuisance(d)
    dd = float(d_own @ d_own)
    if n < MIN_FIT or dd <= IDENTIFIABLE * float(d @ d):
        return Fit(name, truncate, 0.0, 0.0, 0.0)
    base = without_nuisance(r)
    beta = float(d_own @ base) / dd
    rest = base - beta * d_own
    sigma2 = float(rest @ rest) / max(n - 3, 1)
    z = beta / np.sqrt(max(sigma2 / dd, 1e-300))
    explained = 1.0 - float(rest @ rest) / max(float(base @ base), 1e-300)
    return Fit(name, truncate, beta, float(z), explained)


def sample(shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """The rows and columns of C the precision test looks at: all of a side up to
    [precision] sample_side, else that many chosen at random, seeded by the shape (the same
    call is always judged on the same elements)."""
    side = int(tolerance("precision.sample_side"))
    rng = np.random.default_rng([1729, *shape])
    return tuple(np.arange(n) if n <= side else np.sort(rng.choice(n, side, replace=False))
                 for n in shape)


def analyse(C, A, B, C0, alpha: float, beta: float, declared: str | None = None
            ) -> Precision:
    """The effective precision of C = alpha A B + beta C0 (A: M x K, B: K x N, already
    transposed as op requires), and the precision test against `declared`, both on the
    sample of C's elements that sample() picks: its sums, in full K, are the only ones the
    test recomputes (one by one, into C, by BLAS, more accurately), so a verdict costs the
    test O(sample_side^2 K), whatever M and N."""
    rows, cols = sample(np.shape(C))
    C = np.asarray(C)[np.ix_(rows, cols)]
    A = np.asarray(np.asarray(A)[rows], np.float64)  # exact: the operands' values
    B = np.asarray(np.asarray(B)[:, cols], np.float64)
    C0 = np.asarray(C0)[np.ix_(rows, cols)]
    dtype = np.dtype(C.dtype)
    own = FORMATS["float64" if dtype == np.float64 else "float32"]
    declared_format = FORMATS[declared or own.name]
    lower_bound = dtype == np.float64 and not EXTENDED
    ref = reference(A, B, C0, alpha, beta, dtype)
    with np.errstate(over="ignore", invalid="ignore"):
        r = np.asarray(C.astype(ref.dtype) - ref, dtype=np.float64)
    if not np.all(np.isfinite(r)) or _rms(r) == math.inf:
        return Precision(0.0, "unexplained", declared_format.name, math.inf, lower_bound,
                         "the result holds NaN or infinite elements")
    z_star = _z_star()
    fits = []
    if dtype == np.float32:
        exact = np.asarray(A, np.float64) @ np.asarray(B, np.float64)
        for name in INPUT_FORMATS:
            drop = FORMATS[name].drop
            for truncate in (False, True):
                rounded = (round_significand(A, drop, truncate).astype(np.float64)
                           @ round_significand(B, drop, truncate).astype(np.float64))
                fits.append(fit_input_format(r, alpha * (rounded - exact), ref, name,
                                             truncate))
    explained = [f for f in fits if f.z > z_star and f.explained >= 0.5]
    # The accumulation check: rms(r) against the same product in the result's own dtype.
    spread = [_rms(accumulated(A, B, C0, alpha, beta, dtype, order) - ref)
              for order in ORDERS]
    observed = _rms(r)
    if explained:
        best = max(explained, key=lambda f: f.explained)
        bits = FORMATS[best.format].bits - math.log2(max(abs(best.beta), 1e-300))
        model, evidence = best.format, best.describe()
    else:
        bits, model, evidence = accumulation_bits(observed, spread, own, "BLAS", _rms(ref))
    high = max(max(spread), 1e-300)
    # The test against the declaration.
    coarser = [f.z / z_star for f in explained if FORMATS[f.format].u_in > declared_format.u_in]
    scale = declared_format.u_acc / own.u_acc
    allowed = tolerance("precision.slack") * math.hypot(
        high * scale, _rms(_input_rounding(A, B, alpha, declared_format, dtype)))
    tests = coarser + ([_accumulation_ratio(observed, allowed)] if r.size >= min_elements()
                       else [])
    ratio = float(max(tests)) if tests and r.size >= MIN_FIT else None  # None: untested
    return Precision(float(bits), model, declared_format.name, ratio, lower_bound, evidence)


def accumulation_bits(observed: float, spread: list[float], own: Format, fast: str,
                      scale: float) -> tuple[float, str, str]:
    """(bits, model, evidence) from the residual's rms against the rms of the same sums in
    the result's own format, one by one and by `fast` (BLAS, or numpy's pairwise sum):
    beyond the larger, each factor of 2 is one bit less; below the smaller, one more. Where
    those sums are exact (small integers), the yardstick is one rounding of a result of rms
    `scale` instead, and the bits are counted from there, down to 0."""
    low, high = max(min(spread), 1e-300), max(max(spread), 1e-300)
    exact = max(spread) == 0.0
    if observed == 0.0:
        bits = float(own.bits)
    elif exact:
        bits = max(0.0, own.bits - math.log2(observed / max(own.u_acc * scale, 1e-300)))
    elif observed > high:
        bits = own.bits - math.log2(observed / high)
    else:
        bits = own.bits + max(0.0, math.log2(low / observed))
    model = next((name for name, (low_bits, high_bits) in MODEL_BITS.items()
                  if low_bits <= bits <= high_bits), "unexplained")
    if own.name == "float32" and bits > own.bits:
        model = "float32"  # a float32 result cannot show more than float32 behaviour
    evidence = (f"accumulation noise: rms {observed:.3g} where {own.name} sums by {fast} and "
                f"one by one are exact (results of rms {scale:.3g})" if exact else
                f"accumulation noise: rms {observed:.3g} against {low:.3g} to {high:.3g} for "
                f"{own.name} summed by {fast} and one by one")
    return bits, model, evidence


def analyse_accumulation(actual, ref: np.ndarray, yardsticks: list[np.ndarray], fast: str,
                         independent: bool = True, lower_bound: bool = False) -> Precision:
    """The effective precision of `actual` from its residual against `ref` (computed more
    accurately than actual's dtype), measured against `yardsticks`: the same result computed
    honestly in actual's dtype in two orders (`fast`, and one by one). The precision test
    against actual's own dtype: the accumulation check alone (no inputs to round), run only
    when the elements' errors are independent (each its own sum) and at least
    min_elements(). lower_bound: ref is no wider than a float64 result (its bits are at
    least those measured)."""
    actual = np.asarray(actual)
    dtype = np.dtype(actual.dtype)
    own = FORMATS["float64" if dtype == np.float64 else "float32"]
    lower_bound = dtype == np.float64 and (lower_bound or not EXTENDED)
    with np.errstate(over="ignore", invalid="ignore"):
        r = np.asarray(actual.astype(ref.dtype) - ref, dtype=np.float64)
    if not np.all(np.isfinite(r)):
        return Precision(0.0, "unexplained", own.name, math.inf, lower_bound,
                         "the result holds NaN or infinite elements")
    spread = [_rms(np.asarray(y, ref.dtype) - ref) for y in yardsticks]
    observed = _rms(r)
    bits, model, evidence = accumulation_bits(observed, spread, own, fast, _rms(ref))
    if not independent and model not in (own.name, "unexplained"):
        model = "unexplained"  # whole computations: TF32 inputs look like float16 sums
        evidence += "; fewer bits than the dtype's, from inputs or sums the bits cannot tell"
    allowed = tolerance("precision.slack") * max(max(spread), 1e-300)
    testable = independent and r.size >= min_elements()
    return Precision(float(bits), model, own.name,
                     _accumulation_ratio(observed, allowed) if testable else None,
                     lower_bound, evidence)


def wide(dtype) -> type:
    """The type of a reference more accurate than dtype: long double (where wider than
    float64) for float64 results, float64 for float32 ones."""
    return LONG if np.dtype(dtype) == np.float64 and EXTENDED else np.float64


def analyse_sums(s, x) -> Precision:
    """The effective precision of row sums s (M or M x 1) of x (M x n), and the precision
    test against s's own dtype."""
    s = np.asarray(s)
    dtype = np.dtype(s.dtype)
    ref = np.asarray(x, dtype=wide(dtype)).sum(axis=1)
    xd = np.asarray(x, dtype=dtype)
    yardsticks = [np.cumsum(xd, axis=1, dtype=dtype)[:, -1], xd.sum(axis=1, dtype=dtype)]
    return analyse_accumulation(s.reshape(-1), ref, yardsticks, "numpy's pairwise sum")


def _input_rounding(A, B, alpha: float, f: Format, dtype) -> np.ndarray:
    """d_f for a declared format that rounds its inputs (zero for one that does not)."""
    if f.drop == 0 or np.dtype(dtype) != np.float32:
        return np.zeros(1)
    rounded = (round_significand(A, f.drop).astype(np.float64)
               @ round_significand(B, f.drop).astype(np.float64))
    return alpha * (rounded - np.asarray(A, np.float64) @ np.asarray(B, np.float64))
