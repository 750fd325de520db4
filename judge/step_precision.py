"""The effective precision of a gradient or of the parameters after an SGD step, block by
block (judge/precision.py's accumulation check, with the whole step as the computation).

The residual is taken against the oracle's equations in float64 and its rms compared with the
oracle's equations run in the result's dtype in two orders:

    batched      dW = dz X^T over the whole batch (BLAS), as reference/network.py does
    one by one   the same per-image terms dz_k x_k^T summed image after image, in order

Both yardsticks come from one batched forward and backward pass in the dtype (the one-by-one
sums reorder its products, numpy's sequential cumulative sums); every block is analysed on
the GEMM precision test's seeded sample of its elements (at most 64 rows by 64 columns:
[precision] sample_side), so the yardsticks cost about one forward pass in the dtype
whatever the size. A float64 result's bits are a lower bound: its reference is float64 too
(a wider one would cost the long-double products the judge no longer makes).

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
from .precision import analyse_accumulation, sample, sequential
from .verdict import Precision


def _in(p: Params, dtype) -> Params:
    return p.map(lambda a: np.asarray(a, dtype))


def _picks(p: Params) -> Params:
    """The elements of each block the analysis looks at, as (rows, columns): the GEMM
    precision test's seeded sample ([precision] sample_side)."""
    return p.map(lambda a: sample(a.shape))


def _picked(p: Params, picks: Params) -> Params:
    return p.map(lambda a, rc: a[np.ix_(*rc)], picks)


def gradients(p: Params, X, Y, reg: float, dtype, picks: Params,
              ref: Params | None = None) -> tuple[Params, list[Params]]:
    """(the gradient in float64, [the gradient in dtype batched, one by one]) on the picked
    elements of each block; p, X, Y exactly representable in dtype; ref: the oracle's
    gradient where the caller has it."""
    ref = network.backward(p, X, Y, reg) if ref is None else ref
    t = np.dtype(dtype).type
    q, Xd, Yd = _in(p, dtype), np.asarray(X, dtype), np.asarray(Y, dtype)
    fwd = network.forward(q, Xd)
    dz2 = (fwd.yhat - Yd) / t(Xd.shape[1])
    dz1 = (q.W2.T @ dz2) * fwd.a1 * (t(1) - fwd.a1)
    ones = np.ones((1, Xd.shape[1]), dtype)
    factors = Params((dz1, Xd), (dz1, ones), (dz2, fwd.a1), (dz2, ones))  # d a^T summed
    decay = Params(t(reg) * q.W1, 0 * q.b1, t(reg) * q.W2, 0 * q.b2)

    def summed(how) -> Params:
        return factors.map(lambda da, rc, l2: how(da[0][rc[0]], da[1][rc[1]]) + l2[np.ix_(*rc)],
                           picks, decay)

    return _picked(ref, picks), [summed(lambda d, a: d @ a.T), summed(sequential)]


def _analyse(actual: Params, ref: Params, yardsticks: list[Params], picks: Params
             ) -> dict[str, Precision]:
    actual = _picked(actual, picks)
    return {name: analyse_accumulation(getattr(actual, name), getattr(ref, name),
                                       [getattr(y, name) for y in yardsticks],
                                       "the oracle's equations batched", independent=False,
                                       lower_bound=True)
            for name in actual.blocks()}


def analyse_gradient(grad: Params, p: Params, X, Y, reg: float, ref: Params | None = None
                     ) -> dict[str, Precision]:
    """The effective precision of each block of grad (its dtype is grad's); ref: the
    oracle's gradient, where the caller has it."""
    picks = _picks(p)
    ref, yardsticks = gradients(p, X, Y, reg, grad.W1.dtype, picks, ref)
    return _analyse(grad, ref, yardsticks, picks)


def analyse_step(updated: Params, p: Params, X, Y, reg: float, lr: float,
                 ref: Params | None = None) -> dict[str, Precision]:
    """The effective precision of each block of the parameters after one SGD step from p;
    ref: the oracle's gradient, where the caller has it."""
    dtype = updated.W1.dtype
    picks = _picks(p)
    g_ref, g_yard = gradients(p, X, Y, reg, dtype, picks, ref)

    def stepped(params: Params, g: Params, kind) -> Params:
        return _picked(params, picks).map(lambda a, b: a - kind(lr) * b, g)

    ref = stepped(p, g_ref, np.float64)
    return _analyse(updated, ref, [stepped(_in(p, dtype), g, np.dtype(dtype).type)
                                   for g in g_yard], picks)
