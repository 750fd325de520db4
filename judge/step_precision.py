"""The effective precision of a gradient or of the parameters after an SGD step, block by
block (judge/precision.py's accumulation check, with the whole step as the computation).

The residual is taken against the oracle's equations run more accurately than the result's
dtype (float64 for float32 results; long double, where wider, for float64 ones) and its rms
compared with the oracle's equations run in the result's dtype in two orders:

    batched      dW = dz X^T over the whole batch (BLAS), as reference/network.py does
    one by one   the batch's columns one at a time, their gradients summed in order

A step inherits the gradient's yardsticks: p - lr g, in the dtype. The bits are reported,
not tested: a block's errors are not independent (every dW1 entry of a column shares that
column's dz1 error), so its rms holds too few independent samples to test at the precision
test's false-alarm rate; the statistical tier judges the step. Inputs that a trainer
rounds to a coarser format (TF32 tensor cores) show as accumulation noise 2^11 or more
times larger: about 13 bits, "unexplained" (the bits alone cannot tell TF32 inputs from
float16 sums; the input-format regression needs one GEMM's operands, which a whole step does
not expose).
"""

from __future__ import annotations

import numpy as np

from ..common.params import Params
from ..reference import network
from .precision import analyse_accumulation, wide
from .verdict import Precision


def _in(p: Params, dtype) -> Params:
    return Params(*(np.asarray(x, dtype) for x in p.blocks().values()))


def _one_by_one(p: Params, X, Y, lam: float) -> Params:
    """The gradient with the batch's columns taken one at a time, summed in order, then
    divided by N and the L2 term added, all in p's dtype."""
    N = X.shape[1]
    total = None
    for i in range(N):
        g = network.backward(p, X[:, i:i + 1], Y[:, i:i + 1], 0.0)
        total = g if total is None else Params(*(
            a + b for a, b in zip(total.blocks().values(), g.blocks().values(), strict=True)))
    t = p.W1.dtype.type
    return Params(total.W1 / t(N) + t(lam) * p.W1, total.b1 / t(N),
                  total.W2 / t(N) + t(lam) * p.W2, total.b2 / t(N))


def gradients(p: Params, X, Y, lam: float, dtype) -> tuple[Params, list[Params]]:
    """(the gradient more accurately than dtype, [the gradient in dtype batched, one by
    one]); p, X, Y exactly representable in dtype."""
    t = wide(dtype)
    ref = network.backward(_in(p, t), np.asarray(X, t), np.asarray(Y, t), t(lam))
    pd, Xd, Yd = _in(p, dtype), np.asarray(X, dtype), np.asarray(Y, dtype)
    lam_d = np.dtype(dtype).type(lam)
    return ref, [network.backward(pd, Xd, Yd, lam_d), _one_by_one(pd, Xd, Yd, lam)]


def _analyse(actual: Params, ref: Params, yardsticks: list[Params]) -> dict[str, Precision]:
    return {name: analyse_accumulation(getattr(actual, name), getattr(ref, name),
                                       [getattr(y, name) for y in yardsticks],
                                       "the oracle's equations batched", independent=False)
            for name in actual.blocks()}


def analyse_gradient(grad: Params, p: Params, X, Y, lam: float) -> dict[str, Precision]:
    """The effective precision of each block of grad (its dtype is grad's)."""
    ref, yardsticks = gradients(p, X, Y, lam, grad.W1.dtype)
    return _analyse(grad, ref, yardsticks)


def analyse_step(updated: Params, p: Params, X, Y, lam: float, lr: float
                 ) -> dict[str, Precision]:
    """The effective precision of each block of the parameters after one SGD step from p."""
    dtype = updated.W1.dtype
    g_ref, g_yard = gradients(p, X, Y, lam, dtype)
    t, d = wide(dtype), np.dtype(dtype).type

    def stepped(params: Params, g: Params, kind) -> Params:
        return Params(*(a - kind(lr) * b for a, b in zip(
            params.blocks().values(), g.blocks().values(), strict=True)))

    ref = stepped(_in(p, t), g_ref, t)
    return _analyse(updated, ref, [stepped(_in(p, dtype), g, d) for g in g_yard])
