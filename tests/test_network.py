"""The oracle itself: accurate elementwise functions, stable softmax and loss, exact backprop."""

import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from oraclenet.common.data import one_hot
from oraclenet.common.params import Params, init_params
from oraclenet.judge.roundoff import assert_passes, compare_bounded, compare_ulps, unit_roundoff
from oraclenet.judge.tolerances import tolerance
from oraclenet.reference import network, threaded

LONG = np.longdouble
needs_long_double = pytest.mark.skipif(
    np.finfo(LONG).eps >= np.finfo(np.float64).eps,
    reason="long double is no wider than float64 here; no higher-precision reference")
finite = st.floats(-1e3, 1e3, allow_nan=False)


def identity_rel() -> float:
    """Relative difference allowed between two float64 routes to one value (tolerances.toml)."""
    return tolerance("identities.rel_u") * unit_roundoff(np.float64)


def sigmoid_long(z):
    return 1 / (1 + np.exp(-z.astype(LONG)))


def softmax_long(z):
    e = np.exp(z.astype(LONG) - z.max(axis=0))
    return e / e.sum(axis=0)


@needs_long_double
@given(hnp.arrays(np.float64, st.integers(1, 200), elements=st.floats(-740, 740)))
def test_sigmoid_within_its_ulp_bound(z):
    assert_passes(compare_ulps(network.sigmoid(z), sigmoid_long(z),
                               tolerance("ulps.sigmoid_float64"), "sigmoid"))


@needs_long_double
def test_sigmoid_on_a_dense_grid_including_the_tails():
    z = np.concatenate([np.linspace(-745, 745, 20001), [-1e-300, 0.0, 1e-300]])
    assert_passes(compare_ulps(network.sigmoid(z), sigmoid_long(z),
                               tolerance("ulps.sigmoid_float64"), "sigmoid"))


def test_sigmoid_neither_overflows_nor_warns():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        s = network.sigmoid(np.array([-1000.0, -1e308, 1000.0, 1e308, -np.inf, np.inf]))
    assert s.tolist() == [0.0, 0.0, 1.0, 1.0, 0.0, 1.0]
    assert np.isnan(network.sigmoid(np.array([np.nan]))).all()


def hard_values() -> np.ndarray:
    """Floats where a sigmoid goes wrong, both signs, with the neighbours of each: signed
    zeros, subnormals, the smallest normal, where 1 + exp(-z) rounds to 1 (z ~ 37), where exp
    overflows (709.78) and underflows to 0 (745.13), the largest float, the infinities and
    NaN; then every decade from 1e-320 to 1e308 and random values, as a 2-D array."""
    f = np.finfo(np.float64)
    edges = np.array([0.0, f.smallest_subnormal, 1e-310, f.tiny, 1e-300, 1e-16, f.eps, 0.5, 1,
                      2, 36.04, 36.74, 37, 40, 700, 709.78, 709.79, 710, 744.4, 745.13, 745.14,
                      746, 1e4, 1e300, 1e308, f.max])
    with np.errstate(over="ignore"):
        near = np.concatenate([edges, np.nextafter(edges, 0), np.nextafter(edges, np.inf)])
    rng = np.random.default_rng(3)
    mags = np.concatenate([near, np.logspace(-320, 308, 6000), rng.uniform(0, 800, 20000),
                           np.abs(rng.standard_normal(20000)) * 10])
    z = np.concatenate([mags, -mags, [np.inf, -np.inf, np.nan, -np.nan]])
    return z[:z.size // 4 * 4].reshape(4, -1)


def sigmoid_by_branches(z: np.ndarray) -> np.ndarray:
    """The sigmoid as its two textbook branches, each taken only where its exp cannot
    overflow: 1 / (1 + exp(-z)) for z >= 0 and exp(z) / (1 + exp(z)) for z < 0 (and NaN)."""
    out = np.empty_like(z)
    up = z >= 0
    out[up] = 1 / (1 + np.exp(-z[up]))
    ez = np.exp(z[~up])
    out[~up] = ez / (1 + ez)
    return out


def assert_same_bits(got: np.ndarray, expected: np.ndarray) -> None:
    """Equal bit for bit where expected is a number (-0.0 is not 0.0), NaN where it is NaN
    (a NaN's sign and payload depend on the operations, not on the equation)."""
    nan = np.isnan(expected)
    np.testing.assert_array_equal(np.isnan(got), nan)
    np.testing.assert_array_equal(got[~nan].view(np.int64), expected[~nan].view(np.int64))


def test_sigmoid_is_its_two_branches_bit_for_bit_on_hard_values():
    z = hard_values()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        s = network.sigmoid(z)
    assert s.shape == z.shape and s.dtype == np.float64
    assert_same_bits(s, sigmoid_by_branches(z))
    assert network.sigmoid(np.array([0.0, -0.0])).tolist() == [0.5, 0.5]


@pytest.mark.parametrize("layout", ["C", "F", "strided"])
def test_the_threaded_in_place_sigmoid_is_the_oracles_bit_for_bit(layout):
    """threaded.sigmoid_in_place: other operations, written over z, the very same bits as
    network.sigmoid, NaN's too, and no warning."""
    z = hard_values()
    expected = network.sigmoid(z)
    work = {"C": z.copy(), "F": np.asfortranarray(z), "strided": np.repeat(z, 2, axis=1)}[layout]
    view = work[:, ::2] if layout == "strided" else work
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert threaded.sigmoid_in_place(view) is view
    np.testing.assert_array_equal(view.view(np.int64), expected.view(np.int64))
    if layout == "strided":  # the columns between are left alone
        np.testing.assert_array_equal(work[:, 1::2], z)


def softmax_bound(z, y_long):
    """The elementwise bound derived in tolerances.toml [softmax]."""
    shift = np.abs(z - z.max(axis=0))
    u = unit_roundoff(np.float64)
    return tolerance("softmax.factor") * u * (shift + shift.max(axis=0) + 14) * y_long


@needs_long_double
@given(hnp.arrays(np.float64, st.tuples(st.integers(1, 10), st.integers(1, 12)),
                  elements=finite))
def test_softmax_within_its_derived_bound(z):
    y_long = softmax_long(z)
    assert_passes(compare_bounded("softmax", network.softmax(z), y_long.astype(float),
                                  softmax_bound(z, y_long.astype(float))))


@given(hnp.arrays(np.float64, st.tuples(st.integers(1, 10), st.integers(1, 12)),
                  elements=finite), st.floats(-1e3, 1e3))
def test_softmax_columns_are_distributions_and_shift_invariant(z, c):
    y = network.softmax(z)
    n = z.shape[0]
    assert np.all(y >= 0) and np.all(y <= 1)
    sums = y.sum(axis=0)
    # n values each within (|z - m| + max + 14) u relative, summed with n - 1 more roundings.
    allowed = unit_roundoff(np.float64) * (2 * np.abs(z - z.max(axis=0)).max(axis=0) + 14 + n)
    assert_passes(compare_bounded("softmax sums", sums, np.ones_like(sums), allowed))
    # Shifting rounds each z_i + c by u |z_i + c|, which moves exp's argument by that much
    # twice over (z_i and the max): add it to the softmax bound of both evaluations.
    u = unit_roundoff(np.float64)
    zc = np.abs(z + c)
    moved = 2 * softmax_bound(z, y) + 2 * u * (zc + zc.max(axis=0)) * y
    assert_passes(compare_bounded("softmax shift", network.softmax(z + c), y, moved))


def test_softmax_and_loss_survive_huge_logits():
    z = np.array([[1000.0, -1000.0], [0.0, -999.0], [-1000.0, 1e5]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        y = network.softmax(z)
        J = network.data_loss(z, np.eye(3)[:, [1, 2]])
    assert np.allclose(y[:, 0], [1, 0, 0]) and y[2, 1] == 1.0
    # -log softmax: column 0 picks row 1 (1000 below the max), column 1 picks its max row.
    assert J == pytest.approx((1000.0 + 0.0) / 2, rel=identity_rel(), abs=0)


@given(st.integers(1, 6), st.integers(1, 9), st.integers(0, 2 ** 32 - 1))
def test_loss_is_mean_negative_log_probability(H, N, seed):
    rng = np.random.default_rng(seed)
    p = init_params(H, seed)
    X = rng.uniform(0, 1, (784, N))
    labels = rng.integers(0, 10, N)
    yhat = network.forward(p, X).yhat
    by_definition = -np.mean(np.log(yhat[labels, np.arange(N)]))
    J = network.data_loss(network.forward(p, X).z2, one_hot(labels))
    assert J == pytest.approx(by_definition, rel=identity_rel(), abs=0)
    assert network.l2_loss(p, 0.0) == 0.0
    reg = 0.3
    expected_l2 = reg / 2 * (np.sum(p.W1 ** 2) + np.sum(p.W2 ** 2))
    assert network.l2_loss(p, reg) == pytest.approx(expected_l2, rel=identity_rel(), abs=0)


@given(st.integers(1, 5), st.integers(1, 7), st.floats(0, 1), st.integers(0, 2 ** 32 - 1))
def test_gradient_matches_central_differences_on_random_shapes(H, N, reg, seed):
    """Directional derivative along a random direction, at the step of least error."""
    rng = np.random.default_rng(seed)
    p = init_params(H, seed)
    p.b1 += rng.standard_normal(p.b1.shape)
    p.b2 += rng.standard_normal(p.b2.shape)
    X = rng.uniform(0, 1, (784, N))
    Y = one_hot(rng.integers(0, 10, N))
    g = network.backward(p, X, Y, reg)
    v = Params(*(rng.standard_normal(a.shape) for a in p.blocks().values()))
    exact = sum(float(np.vdot(a, b)) for a, b in zip(g.blocks().values(), v.blocks().values(),
                                                     strict=True))
    h = tolerance("gradcheck.step")

    def J_at(t):
        q = Params(*(a + t * b for a, b in zip(p.blocks().values(), v.blocks().values(),
                                                strict=True)))
        return network.loss(q, X, Y, reg)

    fd = (J_at(h) - J_at(-h)) / (2 * h)
    u = unit_roundoff(np.float64)
    vnorm = np.sqrt(sum(float(np.vdot(b, b)) for b in v.blocks().values()))
    allowed = (tolerance("gradcheck.rtol") * abs(exact)
               + tolerance("gradcheck.roundoff_factor") * u * abs(J_at(0)) / h * vnorm
               + h ** 2 * vnorm ** 3)  # truncation h^2 |J'''|/6 with |J'''| <= 6 |v|^3 here
    assert abs(fd - exact) <= allowed, (fd, exact, allowed)


def test_backward_follows_the_equations_on_a_tiny_case():
    """One image, H = 1: every gradient written out by hand from SPEC section 1."""
    p = init_params(1, 3)
    p.b1[:] = 0.2
    x = np.linspace(0, 1, 784)[:, None]
    y = one_hot(np.array([4]))
    reg = 0.5
    z1 = float((p.W1 @ x)[0, 0]) + 0.2
    a1 = 1 / (1 + np.exp(-z1))
    z2 = p.W2[:, 0] * a1 + p.b2[:, 0]
    yhat = np.exp(z2) / np.exp(z2).sum()
    dz2 = yhat - y[:, 0]
    dz1 = float(p.W2[:, 0] @ dz2) * a1 * (1 - a1)
    g = network.backward(p, x, y, reg)
    def check(name, actual, data_term, l2_term):  # relative to the magnitudes added
        assert_passes(compare_bounded(name, actual, data_term + l2_term,
                                      identity_rel() * (np.abs(data_term) + np.abs(l2_term))))

    check("db2", g.b2[:, 0], dz2, 0.0)
    check("dW2", g.W2[:, 0], dz2 * a1, reg * p.W2[:, 0])
    check("db1", g.b1[0], np.array([dz1]), 0.0)
    check("dW1", g.W1[0], dz1 * x[:, 0], reg * p.W1[0])


def test_backward_averages_over_the_batch_but_not_the_l2_term():
    p = init_params(4, 1)
    rng = np.random.default_rng(1)
    X = rng.uniform(0, 1, (784, 6))
    Y = one_hot(rng.integers(0, 10, 6))
    whole = network.backward(p, X, Y, 0.0)
    singles = [network.backward(p, X[:, [i]], Y[:, [i]], 0.0) for i in range(6)]
    for name, block in whole.blocks().items():
        mean = np.mean([getattr(s, name) for s in singles], axis=0)
        assert_passes(compare_bounded(f"d{name}", block, mean,
                                      identity_rel() * np.abs(mean).max()))
    reg = 0.25
    with_l2 = network.backward(p, X, Y, reg)
    # the same data gradient plus reg W1, rounded once: within u |result| of each other
    assert_passes(compare_bounded("l2 term", with_l2.W1 - whole.W1, reg * p.W1,
                                  identity_rel() * np.abs(with_l2.W1)))
    np.testing.assert_array_equal(with_l2.b1, whole.b1)


def test_sgd_step_updates_every_block_in_place():
    p = init_params(3, 0)
    before = p.copy()
    g = Params(*(np.ones_like(a) for a in p.blocks().values()))
    network.sgd_step(p, g, 0.5)
    for name, a in p.blocks().items():
        np.testing.assert_array_equal(a, getattr(before, name) - 0.5)


def test_step_is_loss_then_backward_then_sgd_step():
    rng = np.random.default_rng(5)
    X, Y = rng.uniform(0, 1, (784, 9)), one_hot(rng.integers(0, 10, 9))
    p, q = init_params(4, 1), init_params(4, 1)
    J = network.step(p, X, Y, 1e-3, 0.4)
    assert J == network.loss(q, X, Y, 1e-3)
    network.sgd_step(q, network.backward(q, X, Y, 1e-3), 0.4)
    for name, block in p.blocks().items():
        np.testing.assert_array_equal(block, getattr(q, name), err_msg=name)


@given(st.integers(1, 40), st.integers(1, 30), st.integers(1, 5), st.integers(0, 2 ** 32 - 1))
def test_the_threaded_step_is_the_plain_step_bit_for_bit(H, N, blocks, seed):
    """threaded.step splits only elementwise work, so whatever the blocks (more than rows
    too), every number is network.step's: three steps, the loss and every parameter."""
    rng = np.random.default_rng(seed)
    X, Y = rng.uniform(0, 1, (784, N)), one_hot(rng.integers(0, 10, N))
    p, q = init_params(H, seed), init_params(H, seed)
    for _ in range(3):
        assert threaded.step(q, X, Y, 1e-3, 0.7, blocks=blocks) == network.step(
            p, X, Y, 1e-3, 0.7)
    for name, block in p.blocks().items():
        np.testing.assert_array_equal(getattr(q, name), block, err_msg=name)


@pytest.mark.parametrize("blocks", [None, 2, 3])  # one per core here, and more
def test_the_threaded_step_is_the_plain_step_bit_for_bit_at_the_bench_size(blocks):
    """H = 1000, B = 800: the size `oraclenet bench` times, with BLAS's own threads."""
    rng = np.random.default_rng(6)
    X, Y = rng.uniform(0, 1, (784, 800)), one_hot(rng.integers(0, 10, 800))
    p, q = init_params(1000, 2), init_params(1000, 2)
    assert threaded.step(q, X, Y, 1e-4, 0.1, blocks=blocks) == network.step(p, X, Y, 1e-4, 0.1)
    for name, block in p.blocks().items():
        np.testing.assert_array_equal(getattr(q, name), block, err_msg=name)
