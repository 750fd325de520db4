"""First-order roundoff bounds for one training step of the network, block by block, for
every honest way of writing it.

A GPU kernel, an MPI trainer or anyone's numpy computes the same step as the oracle in
another order, in float32 or float64. How far may its gradient, its loss and its updated
parameters lie from the oracle's when both start from the same parameters and batch? Each
bound propagates Higham's model (2002, sections 3.1 and 3.5, first order in u) through SPEC
section 1's equations, counting for every term the roundings on its way to the result in the
form that rounds it most, over the family of forms real code uses (corpus/forms.py and
tolerances.toml [bounds] enumerate them): sums in any order, fused or not; the batch mean
taken before or after the products, or folded into the learning rate; (yhat - Y) / N or
yhat / N - Y / N; a (1 - a) or a - a^2; the L2 term added to the gradient, inside the mean,
to the update, or as the factor (1 - lr lambda); lr and lambda rounded to the dtype. E_v
bounds |computed v - exact v| elementwise; a sum of n terms in any order is g(n) times the
sum of its terms' magnitudes:

    z1 = W1 X + b1      E_z1  = g(785) (|W1||X| + |b1|)
    a1 = sigmoid(z1)    E_a1  = a1 (1 - a1) E_z1 + c u a1                 (sigmoid' <= 1/4)
    z2 = W2 a1 + b2     E_z2  = g(H+1) (|W2||a1| + |b2|) + |W2| E_a1
    yhat = softmax(z2)  E_yh  = yhat (2 max E_z2 + u (2c + 12 + |z2 - m| + max |z2 - m|))
    dz2 = (yhat - Y)/N  E_dz2 = E_yh / N + gamma_3 (yhat + Y) / N
    da1 = W2^T dz2      E_da1 = g(10) |W2|^T|dz2| + |W2|^T E_dz2
    s = a1 (1 - a1)     E_s   = gamma_2 (a1 + a1^2) + |1 - 2 a1| E_a1
    dz1 = da1 s         E_dz1 = E_da1 s + |da1| E_s + u |dz1|
    dW  = dz a^T + l W  E_dW  = g(N+3) |dz||a|^T + gamma_5 l |W| + E_dz |a|^T + |dz| E_a^T
    db  = rowsum dz     E_db  = g(N+2) rowsum |dz| + rowsum E_dz
    p' = p - lr dp      E_p'  = lr E_dp + gamma_3 |p| + gamma_3 lr |dp|_abs
    J                   E_J   = mean(2 max E_z2 + u (2c + 12 + 2 max |z2 - m|)
                                     + (c + 2) u (|lse| + |z_y|))
                                + g(N+3) mean(|lse| + |z_y|) + gamma_(P+7) (l/2) sum W^2

(a = a1 or X, dz = dz2 or dz1; |dp|_abs = |dz||a|^T + l |W|, the gradient's magnitude; P the
number of weights), with g(n) = gamma_n of the dtype (the rigorous tier) or gamma~_n (the
statistical tier, tolerances.toml [statistical]) for the long sums, and c the relative error
of an elementwise function in units of u (tolerances.toml [bounds]). Splitting a sum across
ranks (data or model parallelism) or tiles (GEMM kernels) is one more order, so covered. Two
implementations each carry their own error, so a comparison allows the sum of the two
bounds: the tested dtype's and float64's (the oracle's).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from ..common.params import Params
from ..common.shapes import N_CLASSES, N_PIXELS
from ..reference import network
from .roundoff import (
    Verdict,
    compare_bounded,
    finite_inputs,
    gamma,
    gamma_tilde,
    judged_dtype,
    unit_roundoff,
)
from .step_precision import analyse_gradient, analyse_step
from .tolerances import tolerance
from .verdict import QUIET, CannotJudge


def _gammas(dtype, statistical: bool):
    return (lambda n, _: gamma_tilde(n, dtype)) if statistical else gamma


class Pass:
    """The oracle's pass over one problem and the products of magnitudes the bounds use,
    whatever the dtype and tier: each computed once, when first needed, so that a verdict's
    four bounds (two tiers, the implementation's dtype and float64's) share them."""

    def __init__(self, p: Params, X: np.ndarray, Y: np.ndarray | None = None):
        self.p, self.X, self.Y = p, X, Y

    @functools.cached_property
    def fwd(self):
        return network.forward(self.p, self.X)

    @functools.cached_property
    def aX(self) -> np.ndarray:
        return np.abs(self.X)

    @functools.cached_property
    def z1(self) -> np.ndarray:  # |W1||X| + |b1|
        return np.abs(self.p.W1) @ self.aX + np.abs(self.p.b1)

    @functools.cached_property
    def z2(self) -> np.ndarray:  # |W2||a1| + |b2|
        return np.abs(self.p.W2) @ self.fwd.a1 + np.abs(self.p.b2)

    @functools.cached_property
    def slope(self) -> np.ndarray:
        return self.fwd.a1 * (1.0 - self.fwd.a1)

    @functools.cached_property
    def dz2(self) -> np.ndarray:
        return (self.fwd.yhat - self.Y) / self.X.shape[1]

    @functools.cached_property
    def da1(self) -> np.ndarray:
        return self.p.W2.T @ self.dz2

    @functools.cached_property
    def dz1(self) -> np.ndarray:
        return self.da1 * self.slope

    @functools.cached_property
    def dz1_X(self) -> np.ndarray:  # |dz1||X|^T
        return np.abs(self.dz1) @ self.aX.T

    @functools.cached_property
    def dz2_a1(self) -> np.ndarray:  # |dz2||a1|^T
        return np.abs(self.dz2) @ self.fwd.a1.T

    # E_dz1's dtype-free parts: |da1| (a1 + a1^2), |da1||1 - 2 a1| slope |z1|-part, ...
    @functools.cached_property
    def abs_W2T(self) -> np.ndarray:
        return np.abs(self.p.W2).T

    @functools.cached_property
    def W2T_dz2(self) -> np.ndarray:  # |W2|^T |dz2|
        return self.abs_W2T @ np.abs(self.dz2)

    @functools.cached_property
    def da1_parts(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(|da1| (a1 + a1^2), |da1||1 - 2 a1| a1 (1 - a1) z1, |da1||1 - 2 a1| a1): E_dz1's
        slope term is gamma_2 times the first, plus E_a1 = g z1 slope + c u a1 carried by
        |da1||1 - 2 a1|: g times the second, c u times the third."""
        a1 = self.fwd.a1
        carried = np.abs(self.da1) * np.abs(1 - 2 * a1)
        return np.abs(self.da1) * (a1 + a1 * a1), carried * self.slope * self.z1, carried * a1


def forward_error(p: Params, X: np.ndarray, dtype, statistical: bool = False,
                  done: Pass | None = None):
    """(the oracle's forward pass, E_a1, E_z2): bounds on an implementation's a1 (H x N) and
    z2 (10 x N) computed in dtype (z1 = W1 X + b1, a1 = sigmoid(z1), z2 = W2 a1 + b2)."""
    done = Pass(p, X) if done is None else done
    u, g = unit_roundoff(dtype), _gammas(dtype, statistical)
    c = tolerance("bounds.elementwise_u")
    a1 = done.fwd.a1
    E_z1 = g(N_PIXELS + 1, dtype) * done.z1
    E_a1 = done.slope * E_z1 + c * u * a1
    E_z2 = g(p.hidden + 1, dtype) * done.z2 + np.abs(p.W2) @ E_a1
    return done.fwd, E_a1, E_z2


# Roundings on the way to the result beyond a sum's own, in the form that rounds most
# (the family: tolerances.toml [bounds]; corpus/forms.py). Counts of operations, not
# tolerances: each is derived there.
DELTA_ROUNDINGS = 3  # dz2: yhat - Y, and / N as a product with the rounded 1/N
MEAN_ROUNDINGS = 2  # a batch mean taken after a product (/ N, or the rounded 1/N)
L2_ROUNDINGS = 5  # lambda W: lambda in the dtype, N lambda, the product, the sum, the mean
SLOPE_ROUNDINGS = 2  # a (1 - a) or a - a a
UPDATE_ROUNDINGS = 3  # p (1 - lr lambda) - lr g: the factor, the product, the subtraction;
# on lr g: lr in the dtype, the product (or lr / N and its product), the subtraction
SOFTMAX_U = 12  # yhat: the 9 additions of the sum, the division, the shift's rounding
# before exp and the log-softmax route's log S and its subtraction (2c + 12 in all)
LOSS_U = 2  # per column: the subtraction of the picked logit and the column's own rounding
L2_LOSS_ROUNDINGS = 7  # the squares' sum beyond its terms: the norm's square root and square,
# the two blocks' sum, lambda in the dtype, its product, the sum with the data term


@dataclass(frozen=True)
class StepError:
    """Bounds for one implementation in one dtype: each gradient entry's error, the loss's,
    and each gradient entry's magnitude |dz||a|^T + lambda |W| (what an update rounds)."""

    grad: Params
    loss: float
    magnitude: Params


def step_error(p: Params, X: np.ndarray, Y: np.ndarray, reg: float, dtype,
               statistical: bool = False, done: Pass | None = None) -> StepError:
    """The bounds for an implementation computing in dtype, in any form of the family; p, X,
    Y as the oracle takes them (float64 values, exactly representable in dtype). Rigorous, or
    with every long sum's gamma_n replaced by the statistical gamma~_n. `done`: the oracle's
    pass, shared with the verdict's other bounds."""
    done = Pass(p, X, Y) if done is None else done
    u, g = unit_roundoff(dtype), _gammas(dtype, statistical)
    c = tolerance("bounds.elementwise_u")
    N = X.shape[1]
    fwd, E_a1, E_z2 = forward_error(p, X, dtype, statistical, done)
    a1, yhat, z2 = fwd.a1, fwd.yhat, fwd.z2
    slope, dz2, dz1 = done.slope, done.dz2, done.dz1
    shift = np.abs(z2 - z2.max(axis=0))
    E_yhat = yhat * (2 * E_z2.max(axis=0) + u * (2 * c + SOFTMAX_U + shift + shift.max(axis=0)))
    E_dz2 = E_yhat / N + gamma(DELTA_ROUNDINGS, dtype) * (yhat + Y) / N

    E_da1 = done.abs_W2T @ E_dz2
    E_da1 += g(N_CLASSES, dtype) * done.W2T_dz2
    # E_dz1 = E_da1 s + |da1| E_s + u |dz1|, E_s = gamma_2 (a1 + a1^2) + |1 - 2 a1| E_a1
    sloped, through_z1, through_a1 = done.da1_parts
    E_dz1 = E_da1
    E_dz1 *= slope
    E_dz1 += gamma(SLOPE_ROUNDINGS, dtype) * sloped
    E_dz1 += g(N_PIXELS + 1, dtype) * through_z1
    E_dz1 += c * u * through_a1
    E_dz1 += u * np.abs(dz1)

    product = g(N + 1 + MEAN_ROUNDINGS, dtype)  # the sum, the L2 term's addition, the mean
    rowsum = g(N + MEAN_ROUNDINGS, dtype)
    l2 = gamma(L2_ROUNDINGS, dtype) * reg
    mag_W2 = done.dz2_a1 + reg * np.abs(p.W2)
    mag_W1 = done.dz1_X + reg * np.abs(p.W1)
    mag_b2 = np.abs(dz2).sum(axis=1, keepdims=True)
    mag_b1 = np.abs(dz1).sum(axis=1, keepdims=True)
    E_dW2 = (product * done.dz2_a1 + l2 * np.abs(p.W2) + E_dz2 @ a1.T
             + np.abs(dz2) @ E_a1.T)
    E_db2 = rowsum * mag_b2 + E_dz2.sum(axis=1, keepdims=True)
    E_dW1 = product * done.dz1_X + l2 * np.abs(p.W1) + E_dz1 @ done.aX.T
    E_db1 = rowsum * mag_b1 + E_dz1.sum(axis=1, keepdims=True)

    # J = (1/N) sum_i (lse_i - z2[y_i, i]) + (l/2) sum W^2, by log-sum-exp or by -log yhat:
    # each column moves by yhat's relative error plus its own roundings; then the mean.
    lse = np.log(np.exp(z2 - z2.max(axis=0)).sum(axis=0)) + z2.max(axis=0)
    terms = np.abs(lse) + np.abs((Y * z2).sum(axis=0))
    per_column = (2 * E_z2.max(axis=0) + u * (2 * c + SOFTMAX_U + 2 * shift.max(axis=0))
                  + (c + LOSS_U) * u * terms)
    E_data = float(np.mean(per_column) + g(N + 1 + MEAN_ROUNDINGS, dtype) * np.mean(terms))
    squares = float(np.vdot(p.W1, p.W1) + np.vdot(p.W2, p.W2))
    E_l2 = 0.5 * reg * g(p.W1.size + p.W2.size + L2_LOSS_ROUNDINGS, dtype) * squares
    return StepError(Params(E_dW1, E_db1, E_dW2, E_db2), E_data + E_l2,
                     Params(mag_W1, mag_b1, mag_W2, mag_b2))


def update_error(p: Params, bound: StepError, lr: float, dtype) -> Params:
    """E_p' = lr E_dp + gamma_3 |p| + gamma_3 lr |dp|_abs: the gradient's error carried by lr,
    and the update's own roundings in the form that rounds most."""
    rounding = gamma(UPDATE_ROUNDINGS, dtype)
    return p.map(lambda q, e, m: lr * e + rounding * (np.abs(q) + lr * m),
                 bound.grad, bound.magnitude)


def allowed(p, X, Y, reg, dtype, lr: float | None = None, statistical: bool = False,
            done: Pass | None = None, bounds: dict | None = None) -> tuple[Params, float]:
    """The sum of the tested implementation's bound (rigorous or statistical) and the float64
    oracle's (rigorous), of the gradient, or with lr of the parameters after a step; and of
    the loss; times [bounds] factor, the room for forms beyond the enumerated family.
    `done` and `bounds` (step_error's results by dtype and tier) are shared between the
    tiers of one verdict."""
    done = Pass(p, X, Y) if done is None else done
    bounds = {} if bounds is None else bounds
    found = []
    for kind, tier in ((np.dtype(dtype), statistical), (np.dtype(np.float64), False)):
        if (kind, tier) not in bounds:
            oracle = (kind, tier) == (np.dtype(np.float64), False)
            bounds[kind, tier] = (oracle and _oracle_from(bounds, p, X, Y)) or step_error(
                p, X, Y, reg, kind, tier, done)
        bound = bounds[kind, tier]
        found.append((bound.grad if lr is None else update_error(p, bound, lr, kind),
                      bound.loss))
    (mine, mine_J), (oracle, oracle_J) = found
    factor = tolerance("bounds.factor")
    return mine.map(lambda a, b: factor * (a + b), oracle), factor * (mine_J + oracle_J)


def _oracle_from(bounds: dict, p: Params, X, Y) -> StepError | None:
    """float64's rigorous bound as a multiple of float32's, where that is known: every
    coefficient of it is gamma_n or u of float64, at most k = (u_64 / u_32) / (1 - n u_32)
    times float32's for the largest n counted, and every term is a non-negative combination
    of the same magnitudes, so k times float32's bound bounds it (beside float32's own, the
    looseness is of order 1e-8: it spares the oracle's bound its GEMMs)."""
    single = bounds.get((np.dtype(np.float32), False))
    if single is None:
        return None
    n = max(N_PIXELS + 1, p.hidden + 1, X.shape[1] + 1 + MEAN_ROUNDINGS,
            p.W1.size + p.W2.size + L2_LOSS_ROUNDINGS)
    u32, u64 = unit_roundoff(np.float32), unit_roundoff(np.float64)
    k = (u64 / u32) / (1 - n * u32)
    return StepError(single.grad.map(lambda e: k * e), k * single.loss, single.magnitude)


def _tiers(p, X, Y, reg, dtype, lr: float | None = None, done: Pass | None = None
           ) -> tuple[tuple[Params, float], tuple[Params, float]]:
    """(rigorous, statistical) allowed errors of the gradient (or, with lr, of the
    parameters after a step) and of the loss, from one pass of the oracle and two bounds of
    dtype (float64's rigorous one is the oracle's; float32's scaled gives it for float32)."""
    done, shared = Pass(p, X, Y) if done is None else done, {}
    return (allowed(p, X, Y, reg, dtype, lr, done=done, bounds=shared),
            allowed(p, X, Y, reg, dtype, lr, statistical=True, done=done, bounds=shared))


def _declared(result: Params, dtype) -> tuple[Params, np.dtype, dict[str, str | None]]:
    """(result in the judged dtype, that dtype, each block's cause of failure): the declared
    dtype (default: the dtype of result's first block); a block coarser than it fails."""
    declared = judged_dtype(result.W1, dtype)[0]
    causes = {name: judged_dtype(block, declared)[1] for name, block in result.blocks().items()}
    return result.astype(declared), declared, causes


@QUIET
def compare_gradient(grad: Params, p: Params, X, Y, reg: float, dtype=None
                     ) -> dict[str, Verdict]:
    """Judge an implementation's gradient in the declared dtype (default: grad's) at p on one
    batch: both tiers and the effective precision of each block (judge/step_precision.py)."""
    judged, dtype, causes = _declared(grad, dtype)
    finite_inputs("the gradient", **p.blocks(), X=X, Y=Y, reg=reg)
    done = Pass(p, X, Y)
    expected = network.backward(p, X, Y, reg, done.fwd)
    (rigorous, _), (statistical, _) = _tiers(p, X, Y, reg, dtype, done=done)
    precision = analyse_gradient(judged, p, X, Y, reg, expected)
    return {name: compare_bounded(f"d{name}", getattr(grad, name), getattr(expected, name),
                                  getattr(rigorous, name), getattr(statistical, name),
                                  precision[name], causes[name])
            for name in grad.blocks()}


@QUIET
def compare_loss(J: float, p: Params, X, Y, reg: float, dtype) -> Verdict:
    """Judge an implementation's loss J (computed in dtype) at p on one batch."""
    finite_inputs("the loss", **p.blocks(), X=X, Y=Y, reg=reg)
    expected = network.loss(p, X, Y, reg)
    (_, rigorous), (_, statistical) = _tiers(p, X, Y, reg, dtype)
    return compare_bounded("J", np.array([J]), np.array([expected]), np.array([rigorous]),
                           np.array([statistical]))


def _in_range(check: str, values: np.ndarray, dtype) -> None:
    """CannotJudge where the oracle's value lies beyond the dtype's finite range: no result
    in that dtype can hold it, and the bounds were derived for values that it can."""
    big = np.abs(values) > np.finfo(dtype).max
    if np.any(big):
        at = tuple(int(i) for i in np.unravel_index(np.argmax(big), values.shape))
        raise CannotJudge(f"cannot judge {check}: the oracle's value {values[at]:.3g} at {at} "
                          f"lies beyond {np.dtype(dtype).name}'s range")


@QUIET
def compare_step(updated: Params, p: Params, X, Y, reg: float, lr: float, dtype=None
                 ) -> dict[str, Verdict]:
    """Judge parameters after one SGD step from p in the declared dtype (default: updated's):
    lr times the gradient's bounds, plus the update's own roundings (update_error)."""
    judged, dtype, causes = _declared(updated, dtype)
    finite_inputs("the step", **p.blocks(), X=X, Y=Y, reg=reg, lr=lr)
    done = Pass(p, X, Y)
    grad = network.backward(p, X, Y, reg, done.fwd)
    expected = p.map(lambda a, g: a - lr * g, grad)
    for name, values in expected.blocks().items():
        _in_range(f"{name} after a step", values, dtype)
    (rigorous, _), (statistical, _) = _tiers(p, X, Y, reg, dtype, lr, done)
    precision = analyse_step(judged, p, X, Y, reg, lr, grad)
    return {name: compare_bounded(f"{name} after a step", getattr(updated, name),
                                  getattr(expected, name), getattr(rigorous, name),
                                  getattr(statistical, name), precision[name], causes[name])
            for name in updated.blocks()}
