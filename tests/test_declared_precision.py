"""A declared precision against the actual one, both ways (judge/precision.py and the
`precision=` argument of the GEMM verdict and of oraclenet.assert_gemm): a result computed as
finely as declared, or more finely, passes; one computed more coarsely than declared fails,
by the precision test, and the verdict names what it was computed in. Every pair of a chain
of precisions is judged, so that neither branch of the comparison can be wrong unseen."""

import numpy as np
import pytest

import oraclenet
from oraclenet.corpus import cases as C
from oraclenet.corpus import gemm as G
from oraclenet.judge.roundoff import compare_gemm
from oraclenet.judge.tolerances import tolerance

# float32 results, finest first: as given, inputs rounded to TF32, inputs rounded to bfloat16
CHAIN = ("float32", "tf32", "bfloat16")
COMPUTED = {"float32": G.honest("BLAS"), "tf32": G.PRECISION_BUGS["TF32 inputs"],
            "bfloat16": G.PRECISION_BUGS["bfloat16 inputs"]}
PAIRS = [(actual, declared) for actual in CHAIN for declared in CHAIN]


@pytest.fixture(scope="module")
def problem():
    return C.gemm_problem("normal", (40, 40, 256), np.float32, 3, alpha_beta=(2.0, 5.0))


@pytest.mark.parametrize(("actual", "declared"), PAIRS)
def test_a_float32_result_passes_a_declaration_as_coarse_or_coarser_and_fails_a_finer_one(
        problem, actual, declared):
    A, B, C0, alpha, beta = problem
    result = COMPUTED[actual](A, B, C0, alpha, beta)
    v = compare_gemm(result, A, B, C0, alpha, beta, precision=declared)
    assert v.precision.declared == declared and v.precision_model == actual, str(v)
    if CHAIN.index(declared) < CHAIN.index(actual):  # declared finer than it was computed
        assert not v.passed and "precision" in v.failed_tests(), str(v)
        assert v.precision.ratio >= tolerance("teeth.min_bug_ratio"), str(v)
    else:  # declared as computed, or coarser: within the declared precision's bounds
        assert v.passed, str(v)


@pytest.fixture(scope="module")
def float64_problem(problem):
    A, B, C0, alpha, beta = problem
    return (*(x.astype(np.float64) for x in (A, B, C0)), alpha, beta,
            {"float64": G.honest("BLAS"), "float32": G.FLOAT64_PRECISION_BUGS[
                "float32 accumulation in a float64 kernel"]})


@pytest.mark.parametrize(("actual", "declared"), [(a, d) for a in ("float64", "float32")
                                                  for d in ("float64", "float32")])
def test_a_float64_result_both_ways(float64_problem, actual, declared):
    """A float64 array whose values were accumulated in float32 fails as float64 and passes as
    float32; one accumulated in float64 passes both."""
    A, B, C0, alpha, beta, computed = float64_problem
    result = computed[actual](A, B, C0, alpha, beta)
    assert result.dtype == np.float64
    v = compare_gemm(result, A, B, C0, alpha, beta, precision=declared)
    assert v.precision.declared == declared and v.precision_model == actual, str(v)
    if (actual, declared) == ("float32", "float64"):
        assert not v.passed and "precision" in v.failed_tests(), str(v)
        assert v.precision.ratio >= tolerance("teeth.min_bug_ratio"), str(v)
    else:
        assert v.passed, str(v)


@pytest.mark.parametrize(("actual", "declared"), PAIRS)
def test_assert_gemm_takes_the_declared_precision_both_ways(problem, actual, declared):
    """The library's front door: assert_gemm(..., precision=) raises, naming the precision
    downgrade and the declaration, exactly where compare_gemm fails."""
    A, B, C0, alpha, beta = problem
    result = COMPUTED[actual](A, B, C0, alpha, beta)
    if CHAIN.index(declared) < CHAIN.index(actual):
        with pytest.raises(AssertionError) as err:
            oraclenet.assert_gemm(result, A, B, C0, alpha=alpha, beta=beta, precision=declared)
        assert "cause: precision downgrade" in str(err.value), str(err.value)
        assert f"declared {declared}" in str(err.value), str(err.value)
    else:
        v = oraclenet.assert_gemm(result, A, B, C0, alpha=alpha, beta=beta, precision=declared)
        assert v.passed and v.precision.declared == declared
