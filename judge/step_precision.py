"""The effective precision of a gradient or of the parameters after an SGD step, block by
block (judge/precision.py's accumulation check, with the whole step as the computation).

The residual is taken against the oracle's equations in float64 and its rms compared with the
oracle's equations run in the result's dtype in two orders:

    batched      dW = dz X^T over the whole batch (BLAS), as reference/network.py does
    one by one   the same per-image terms dz_k x_k^T summed image after image, in order

Both yardsticks come from one batched forward and backward pass in the dtype (the one-by-one
sums reorder its products, numpy's sequential cumulative sums); W1's are taken on a seeded
sample of its rows ([precision] sample_side), so the analysis costs about two oracle steps
whatever the batch. A float64 result's bits are a lower bound: its reference is float64 too
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
from .precision import CHUNK, analyse_accumulation, sample
from .tolerances import tolerance
from .verdict import Precision


def _in(p: Params, dtype) -> Params:
    return Params(*(np.asarray(x, dtype) for x in p.blocks().values()))


def _sequential(d: np.ndarray, a: np.ndarray) -> np.ndarray:
    """sum_k d[:, k] a[:, k]^T, the terms added one by one in order, in d's dtype (m x n
    from d: m x N, a: n x N); CHUNK images at a time, the running sum carried."""
    acc = np.zeros((d.shape[0], a.shape[0]), d.dtype)
    for k in range(0, d.shape[1], CHUNK):
        terms = d[:, None, k:k + CHUNK] * a[None, :, k:k + CHUNK]  # m x n x chunk
        terms[:, :, 0] += acc
        acc = np.cumsum(terms, axis=2, dtype=d.dtype)[:, :, -1]
    return acc


def gradients(p: Params, X, Y, lam: float, dtype, rows: np.ndarray,
              ref: Params | None = None) -> tuple[Params, list[Params]]:
    """(the gradient in float64, [the gradient in dtype batched, one by one]), W1 and its
    yardsticks on `rows` only; p, X, Y exactly representable in dtype; ref: the oracle's
    gradient where the caller has it."""
    ref = network.backward(p, X, Y, lam) if ref is None else ref
    t = np.dtype(dtype).type
    q, Xd, Yd = _in(p, dtype), np.asarray(X, dtype), np.asarray(Y, dtype)
    fwd = network.forward(q, Xd)
    N = t(Xd.shape[1])
    dz2 = (fwd.yhat - Yd) / N
    dz1 = (q.W2.T @ dz2) * fwd.a1 * (t(1) - fwd.a1)
    lam_d = t(lam)
    batched = Params(dz1[rows] @ Xd.T + lam_d * q.W1[rows], dz1.sum(axis=1, keepdims=True),
                     dz2 @ fwd.a1.T + lam_d * q.W2, dz2.sum(axis=1, keepdims=True))
    ones = np.ones((1, dz1.shape[1]), dtype)
    one_by_one = Params(_sequential(dz1[rows], Xd) + lam_d * q.W1[rows],
                        _sequential(dz1, ones), _sequential(dz2, fwd.a1) + lam_d * q.W2,
                        _sequential(dz2, ones))
    return Params(ref.W1[rows], ref.b1, ref.W2, ref.b2), [batched, one_by_one]


def _rows(p: Params) -> np.ndarray:
    """W1's rows the analysis looks at: [precision] step_rows of them, seeded."""
    rows = sample((p.hidden, 1))[0]
    keep = int(tolerance("precision.step_rows"))
    return rows if rows.size <= keep else np.sort(
        np.random.default_rng([p.hidden, 7]).choice(rows, keep, replace=False))


def _analyse(actual: Params, ref: Params, yardsticks: list[Params], rows: np.ndarray
             ) -> dict[str, Precision]:
    actual = Params(actual.W1[rows], actual.b1, actual.W2, actual.b2)
    return {name: analyse_accumulation(getattr(actual, name), getattr(ref, name),
                                       [getattr(y, name) for y in yardsticks],
                                       "the oracle's equations batched", independent=False,
                                       lower_bound=True)
            for name in actual.blocks()}


def analyse_gradient(grad: Params, p: Params, X, Y, lam: float, ref: Params | None = None
                     ) -> dict[str, Precision]:
    """The effective precision of each block of grad (its dtype is grad's); ref: the
    oracle's gradient, where the caller has it."""
    rows = _rows(p)
    ref, yardsticks = gradients(p, X, Y, lam, grad.W1.dtype, rows, ref)
    return _analyse(grad, ref, yardsticks, rows)


def analyse_step(updated: Params, p: Params, X, Y, lam: float, lr: float,
                 ref: Params | None = None) -> dict[str, Precision]:
    """The effective precision of each block of the parameters after one SGD step from p;
    ref: the oracle's gradient, where the caller has it."""
    dtype = updated.W1.dtype
    rows = _rows(p)
    g_ref, g_yard = gradients(p, X, Y, lam, dtype, rows, ref)
    d = np.dtype(dtype).type

    def stepped(params: Params, g: Params, kind) -> Params:
        params = Params(params.W1[rows], params.b1, params.W2, params.b2)
        return Params(*(a - kind(lr) * b for a, b in zip(
            params.blocks().values(), g.blocks().values(), strict=True)))

    ref = stepped(p, g_ref, np.float64)
    return _analyse(updated, ref, [stepped(_in(p, dtype), g, d) for g in g_yard], rows)
