"""The network's other kernels against the oracle: elementwise in ulps, reductions against
gamma_n bounds, counts exactly. In the simulator or on a GPU. Every launch spans at least
two blocks of 128 threads, and the elementwise kernels are tried at the extremes their
stability is for (corpus/elementwise.py's inputs: exp overflowing, in every softmax row)."""

import numpy as np
import pytest
from numba import cuda

from oraclenet.corpus.elementwise import inputs as extreme_inputs
from oraclenet.gpu.kernels import kernels, launch, launch_reduction
from oraclenet.judge import elementwise
from oraclenet.judge.roundoff import compare_rowsum
from oraclenet.reference import network
from tests.ratios import passes

DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def run(name, dtype, n, *arrays):
    """Launch kernel `name` over n items on device copies; return the arrays back."""
    device = [cuda.to_device(a) if isinstance(a, np.ndarray) else a for a in arrays]
    kernels(dtype)[name][launch(n)](*device)
    return [d.copy_to_host() if hasattr(d, "copy_to_host") else d for d in device]


@pytest.mark.parametrize("kind", ["normal", "extreme"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_sigmoid_in_ulps_including_the_tails(dtype, kind):
    Z = extreme_inputs("sigmoid", kind, dtype, 0)["z"].astype(dtype)
    assert Z.size > 128
    _, A = run("sigmoid", dtype, Z.size, Z, np.empty_like(Z))
    passes(elementwise.compare_sigmoid(A, Z))


@pytest.mark.parametrize("dtype", DTYPES)
def test_add_bias_is_one_correctly_rounded_add(rng, dtype):
    Z = rng.standard_normal((13, 19)).astype(dtype)
    b = rng.standard_normal((13, 1)).astype(dtype)
    out, _ = run("add_bias", dtype, Z.size, Z, b)
    passes(elementwise.compare_add_bias(out, Z, b))


def columns(op: str, kind: str, dtype, count: int = 150) -> np.ndarray:
    """`count` columns of logits (more than one block of threads), repeating the corpus's."""
    z = extreme_inputs(op, kind, dtype, 0)["z"]
    return np.tile(z, (1, -(-count // z.shape[1])))[:, :count].astype(dtype)


@pytest.mark.parametrize("kind", ["normal", "extreme"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_within_the_derived_bound(dtype, kind):
    Z = columns("softmax", kind, dtype)
    _, Y = run("softmax", dtype, Z.shape[1], Z, np.empty_like(Z))
    passes(elementwise.compare_softmax(Y, Z))


@pytest.mark.parametrize("kind", ["normal", "extreme"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_cross_entropy_sum_within_the_derived_bound(rng, dtype, kind):
    Z = columns("softmax", kind, dtype)
    labels = rng.integers(0, 10, Z.shape[1])
    *_, J = run("cross_entropy", dtype, Z.shape[1], Z, labels, np.zeros(1, dtype))
    passes(elementwise.compare_cross_entropy_sum(J, Z, labels))


@pytest.mark.parametrize("dtype", DTYPES)
def test_output_and_hidden_deltas_in_ulps(rng, dtype):
    Yhat = network.softmax(rng.standard_normal((10, 15))).astype(dtype)
    labels = rng.integers(0, 10, 15)
    *_, D = run("output_delta", dtype, Yhat.size, Yhat, labels, dtype.type(15),
                np.empty_like(Yhat))
    passes(elementwise.compare_output_delta(D, Yhat, labels, 15))
    dA = rng.standard_normal((7, 20)).astype(dtype)
    A = network.sigmoid(rng.standard_normal((7, 20)) * 3).astype(dtype)
    *_, dZ = run("sigmoid_delta", dtype, A.size, dA, A, np.empty_like(A))
    passes(elementwise.compare_sigmoid_delta(dZ, dA, A))


@pytest.mark.parametrize("dtype", DTYPES)
def test_reductions_within_gamma_bounds(rng, dtype):
    X = rng.standard_normal((150, 9)).astype(dtype)
    _, s = run("row_sums", dtype, X.shape[0], X, np.empty((150, 1), dtype))
    passes(compare_rowsum(s, X))
    _, total = run("sum_squares", dtype, X.size, X, np.zeros(1, dtype))  # a thread per item
    passes(compare_rowsum(total, (X.astype(float) ** 2).reshape(1, -1)))
    total = cuda.to_device(np.zeros(1, dtype))  # as the network launches it: grid-stride
    kernels(dtype)["sum_squares"][launch_reduction(X.size)](cuda.to_device(X), total)
    passes(compare_rowsum(total.copy_to_host(), (X.astype(float) ** 2).reshape(1, -1)))


@pytest.mark.parametrize("dtype", DTYPES)
def test_sgd_update_and_accuracy_count(rng, dtype):
    P = rng.standard_normal((6, 25)).astype(dtype)
    G = rng.standard_normal((6, 25)).astype(dtype)
    out, *_ = run("sgd", dtype, P.size, P.copy(), G, dtype.type(0.25))
    passes(elementwise.compare_update(out, P, G, 0.25))
    Z = rng.standard_normal((10, 150)).astype(dtype)
    labels = rng.integers(0, 10, 150)
    *_, count = run("count_correct", dtype, 150, Z, labels, np.zeros(1, np.int64))
    assert count[0] == np.count_nonzero(np.argmax(Z, axis=0) == labels)
