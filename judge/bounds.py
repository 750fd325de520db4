"""First-order roundoff bounds for one training step of the network, block by block.

A GPU kernel or an MPI trainer computes the same step as the oracle in another order, in
float32 or float64. How far may its gradient, its loss and its updated parameters lie from
the oracle's when both start from the same parameters and batch? This module propagates
error bounds through the equations of SPEC section 1 (Higham 2002, sections 3.1 and 3.5, to
first order in u), with E_v a bound on |computed v - exact v| elementwise:

    z1 = W1 X + b1      E_z1  = g(785) (|W1||X| + |b1|)
    a1 = sigmoid(z1)    E_a1  = a1 (1 - a1) E_z1 + c u a1                 (sigmoid' <= 1/4)
    z2 = W2 a1 + b2     E_z2  = g(H+1) (|W2||a1| + |b2|) + |W2| E_a1
    yhat = softmax(z2)  E_yh  = yhat (2 max_col E_z2 + u (c + |z2 - m| + max_col |z2 - m|))
    dz2 = (yhat - Y)/N  E_dz2 = E_yh / N + 2 u |dz2|
    dW2 = dz2 a1^T + lW2       g(N+2)(|dz2||a1|^T + l|W2|) + E_dz2 |a1|^T + |dz2| E_a1^T
    db2 = rowsum dz2           g(N) rowsum|dz2| + rowsum E_dz2
    da1 = W2^T dz2      E_da1 = g(10) |W2|^T|dz2| + |W2|^T E_dz2
    dz1 = da1 a1(1-a1)  E_dz1 = E_da1 a1(1-a1) + |da1||1 - 2a1| E_a1 + 3u |dz1|
    dW1 = dz1 X^T + lW1        g(N+2)(|dz1||X|^T + l|W1|) + E_dz1 |X|^T
    db1 = rowsum dz1           g(N) rowsum|dz1| + rowsum E_dz1

with g(n) = gamma_n of the dtype (the rigorous tier) or gamma~_n (the statistical tier,
tolerances.toml [statistical]), and c the relative error of an elementwise function in
units of u (tolerances.toml [bounds]). Every sum is bounded for ANY order, so splitting it
across ranks (data or model parallelism) or tiles (GEMM kernels) is covered. Two
implementations each carry their own error, so a comparison allows the sum of the two
bounds: the tested dtype's and float64's (the oracle's).
"""

from __future__ import annotations

import numpy as np

from ..common.params import Params
from ..common.shapes import N_CLASSES, N_PIXELS
from ..reference import network
from .roundoff import (
    Verdict,
    compare_bounded,
    gamma,
    gamma_tilde,
    judged_dtype,
    unit_roundoff,
)
from .step_precision import analyse_gradient, analyse_step
from .tolerances import tolerance
from .verdict import QUIET


def _gammas(dtype, statistical: bool):
    return (lambda n, _: gamma_tilde(n, dtype)) if statistical else gamma


def forward_error(p: Params, X: np.ndarray, dtype, statistical: bool = False):
    """(the oracle's forward pass, E_a1, E_z2): bounds on an implementation's a1 (H x N) and
    z2 (10 x N) computed in dtype (z1 = W1 X + b1, a1 = sigmoid(z1), z2 = W2 a1 + b2)."""
    u, g = unit_roundoff(dtype), _gammas(dtype, statistical)
    c = tolerance("bounds.elementwise_u")
    fwd = network.forward(p, X)
    a1 = fwd.a1
    E_z1 = g(N_PIXELS + 1, dtype) * (np.abs(p.W1) @ np.abs(X) + np.abs(p.b1))
    E_a1 = a1 * (1.0 - a1) * E_z1 + c * u * a1
    E_z2 = g(p.hidden + 1, dtype) * (np.abs(p.W2) @ a1 + np.abs(p.b2)) + np.abs(p.W2) @ E_a1
    return fwd, E_a1, E_z2


def step_error(p: Params, X: np.ndarray, Y: np.ndarray, lam: float, dtype,
               statistical: bool = False) -> tuple[Params, float]:
    """(bound on each gradient entry, bound on the loss) for one implementation computing in
    dtype; p, X, Y as the oracle takes them (float64 values, exactly representable in dtype).
    Rigorous, or with every sum's gamma_n replaced by the statistical gamma~_n."""
    u, g = unit_roundoff(dtype), _gammas(dtype, statistical)
    c = tolerance("bounds.elementwise_u")
    N = X.shape[1]
    fwd, E_a1, E_z2 = forward_error(p, X, dtype, statistical)
    a1, yhat, z2 = fwd.a1, fwd.yhat, fwd.z2
    aX = np.abs(X)
    slope = a1 * (1.0 - a1)
    shift = np.abs(z2 - z2.max(axis=0))
    E_yhat = yhat * (2 * E_z2.max(axis=0) + u * (c + shift + shift.max(axis=0)))
    dz2 = (yhat - Y) / N
    E_dz2 = E_yhat / N + 2 * u * np.abs(dz2)

    da1 = p.W2.T @ dz2
    dz1 = da1 * slope
    E_da1 = g(N_CLASSES, dtype) * (np.abs(p.W2).T @ np.abs(dz2)) + np.abs(p.W2).T @ E_dz2
    E_dz1 = E_da1 * slope + np.abs(da1) * np.abs(1 - 2 * a1) * E_a1 + 3 * u * np.abs(dz1)

    E_dW2 = (g(N + 2, dtype) * (np.abs(dz2) @ a1.T + lam * np.abs(p.W2))
             + E_dz2 @ a1.T + np.abs(dz2) @ E_a1.T)
    E_db2 = g(N, dtype) * np.abs(dz2).sum(axis=1, keepdims=True) + E_dz2.sum(
        axis=1, keepdims=True)
    E_dW1 = (g(N + 2, dtype) * (np.abs(dz1) @ aX.T + lam * np.abs(p.W1))
             + E_dz1 @ aX.T)
    E_db1 = g(N, dtype) * np.abs(dz1).sum(axis=1, keepdims=True) + E_dz1.sum(
        axis=1, keepdims=True)

    # J = (1/N) sum_i (lse_i - z2[y_i, i]) + (l/2) sum W^2: each column's log-sum-exp moves
    # by at most 2 max E_z2 plus its own rounding; the mean and the squares add gamma terms.
    per_column = np.log(np.exp(z2 - z2.max(axis=0)).sum(axis=0)) + z2.max(axis=0)
    picked = (Y * z2).sum(axis=0)
    terms = np.abs(per_column) + np.abs(picked)
    E_data = float(np.mean(2 * E_z2.max(axis=0) + (c + shift.max(axis=0)) * u * terms)
                   + g(N, dtype) * np.mean(terms))
    squares = float(np.vdot(p.W1, p.W1) + np.vdot(p.W2, p.W2))
    E_l2 = 0.5 * lam * g(p.W1.size + p.W2.size + 2, dtype) * squares
    return Params(E_dW1, E_db1, E_dW2, E_db2), E_data + E_l2


def _allowed(p, X, Y, lam, dtype, statistical: bool = False) -> tuple[Params, float]:
    """The sum of the tested implementation's bound (rigorous or statistical) and the float64
    oracle's (rigorous)."""
    mine, mine_J = step_error(p, X, Y, lam, dtype, statistical)
    oracle, oracle_J = step_error(p, X, Y, lam, np.float64)
    blocks = [a + b for a, b in zip(mine.blocks().values(), oracle.blocks().values(),
                                    strict=True)]
    return Params(*blocks), mine_J + oracle_J


def _tiers(p, X, Y, lam, dtype) -> tuple[tuple[Params, float], tuple[Params, float]]:
    """(rigorous, statistical) allowed errors of the gradient and the loss."""
    return _allowed(p, X, Y, lam, dtype), _allowed(p, X, Y, lam, dtype, statistical=True)


def _declared(result: Params, dtype) -> tuple[Params, np.dtype, dict[str, str | None]]:
    """(result in the judged dtype, that dtype, each block's cause of failure): the declared
    dtype (default: the dtype of result's first block); a block coarser than it fails."""
    declared = judged_dtype(result.W1, dtype)[0]
    causes = {name: judged_dtype(block, declared)[1] for name, block in result.blocks().items()}
    return result.astype(declared), declared, causes


@QUIET
def compare_gradient(grad: Params, p: Params, X, Y, lam: float, dtype=None
                     ) -> dict[str, Verdict]:
    """Judge an implementation's gradient in the declared dtype (default: grad's) at p on one
    batch: both tiers and the effective precision of each block (judge/step_precision.py)."""
    judged, dtype, causes = _declared(grad, dtype)
    expected = network.backward(p, X, Y, lam)
    (rigorous, _), (statistical, _) = _tiers(p, X, Y, lam, dtype)
    precision = analyse_gradient(judged, p, X, Y, lam)
    return {name: compare_bounded(f"d{name}", getattr(grad, name), getattr(expected, name),
                                  getattr(rigorous, name), getattr(statistical, name),
                                  precision[name], causes[name])
            for name in grad.blocks()}


@QUIET
def compare_loss(J: float, p: Params, X, Y, lam: float, dtype) -> Verdict:
    """Judge an implementation's loss J (computed in dtype) at p on one batch."""
    expected = network.loss(p, X, Y, lam)
    (_, rigorous), (_, statistical) = _tiers(p, X, Y, lam, dtype)
    return compare_bounded("J", np.array([J]), np.array([expected]), np.array([rigorous]),
                           np.array([statistical]))


@QUIET
def compare_step(updated: Params, p: Params, X, Y, lam: float, lr: float, dtype=None
                 ) -> dict[str, Verdict]:
    """Judge parameters after one SGD step from p in the declared dtype (default: updated's):
    lr times the gradient bounds, plus the rounding of lr g and of the subtraction."""
    judged, dtype, causes = _declared(updated, dtype)
    grad = network.backward(p, X, Y, lam)
    expected = Params(*(a - lr * g for a, g in zip(p.blocks().values(),
                                                   grad.blocks().values(), strict=True)))
    (rigorous, _), (statistical, _) = _tiers(p, X, Y, lam, dtype)
    u = unit_roundoff(dtype) + unit_roundoff(np.float64)

    def allowed(tier: Params, name: str) -> np.ndarray:
        return lr * getattr(tier, name) + u * (np.abs(getattr(expected, name))
                                               + 2 * lr * np.abs(getattr(grad, name)))

    precision = analyse_step(judged, p, X, Y, lam, lr)
    return {name: compare_bounded(f"{name} after a step", getattr(updated, name),
                                  getattr(expected, name), allowed(rigorous, name),
                                  allowed(statistical, name), precision[name], causes[name])
            for name in updated.blocks()}
