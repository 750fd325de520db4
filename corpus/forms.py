"""The same training step written the ways real code writes it: every form computes SPEC
section 1's gradient, loss and SGD update exactly in real numbers, and differs from the oracle
only in its evaluation order and grouping, so each rounds differently. judge/bounds.py's
rigorous bounds claim to cover this family (tolerances.toml [bounds]); `oraclenet separation`
judges every form in float32 and float64, at extreme learning rates and L2 weights, at H = 1
and N = 1 (corpus/cases.py).

A form is a choice per place where real code differs (tutorials, framework optimizers, the
course's C++ code):

    sigmoid   exp: 1 / (1 + exp(-z));  expit: scipy.special.expit;  logaddexp: exp(-log(1 + e^-z))
    softmax   shifted: exp(z - max) / sum;  log: exp of the log-softmax
    delta     subtract: (yhat - Y) / N;  divide: yhat / N - Y / N;  reciprocal: (yhat - Y) (1/N);
              deferred: yhat - Y, the batch mean taken after the products
    slope     a(1-a): a (1 - a);  a-a2: a - a a
    l2        gradient: dW = D + reg W, then W - lr dW;  inside: dW = (S + N reg W) / N;
              parts: W - lr D - lr reg W;  factored: W (1 - lr reg) - lr D;
              decay: W - lr reg W first, then - lr D
    lr        times: lr g;  over_n: (lr / N) S, the mean folded into the learning rate
    products  blas: one GEMM;  samples: the batch's outer products summed one by one
    fused     the update as one fused multiply-add (emulated: the exact product and sum
              rounded once, through a wider type)
    loss      lse: log-sum-exp;  log: -log yhat[y];  norm: the L2 term from np.linalg.norm
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..common.params import Params


@dataclass(frozen=True)
class Form:
    sigmoid: str = "exp"
    softmax: str = "shifted"
    delta: str = "subtract"
    slope: str = "a(1-a)"
    l2: str = "gradient"
    lr: str = "times"
    products: str = "blas"
    fused: bool = False
    loss: str = "lse"


FORMS = {
    "SPEC's order": Form(),
    "expit, log-softmax, -log yhat": Form(sigmoid="expit", softmax="log", loss="log"),
    "logaddexp sigmoid": Form(sigmoid="logaddexp"),
    "yhat / N - Y / N": Form(delta="divide"),
    "(yhat - Y) times 1/N": Form(delta="reciprocal"),
    "batch mean after the products": Form(delta="deferred"),
    "L2 term inside the batch mean": Form(delta="deferred", l2="inside"),
    "lr / N on the sums, lr on the L2 term": Form(delta="deferred", lr="over_n", l2="parts"),
    "lr on each part": Form(l2="parts"),
    "weight decay factored": Form(l2="factored"),
    "weight decay applied first": Form(l2="decay"),
    "a - a^2": Form(slope="a-a2"),
    "sample by sample": Form(products="samples"),
    "fused update": Form(fused=True),
    "L2 loss by the norm": Form(loss="norm"),
    "every choice at once": Form(sigmoid="logaddexp", softmax="log", delta="deferred",
                                 slope="a-a2", l2="factored", lr="over_n", products="samples",
                                 fused=True, loss="norm"),
    "every choice at once, divided first": Form(sigmoid="expit", softmax="log",
                                                delta="divide", slope="a-a2", l2="decay",
                                                products="samples", loss="log"),
}


def _sigmoid(z, how: str):
    t = z.dtype.type
    if how == "exp":
        with np.errstate(over="ignore"):  # exp(-z) = inf gives 0, as it should
            return t(1) / (t(1) + np.exp(-z))
    if how == "expit":
        import scipy.special  # not at import: it starts a thread

        return scipy.special.expit(z)
    return np.exp(-np.logaddexp(t(0), -z))


def _outer_sum(d, a, how: str):
    """d a^T (d: m x N, a: n x N) by one GEMM, or the N outer products summed in order."""
    if how == "blas":
        return d @ a.T
    total = np.zeros((d.shape[0], a.shape[0]), d.dtype)
    for k in range(d.shape[1]):
        total += np.outer(d[:, k], a[:, k])
    return total


def _rowsum(d, how: str):
    if how == "blas":
        return d.sum(axis=1, keepdims=True)
    total = np.zeros((d.shape[0], 1), d.dtype)
    for k in range(d.shape[1]):
        total += d[:, k:k + 1]
    return total


def _fused(a, b, c):
    """a b + c rounded once: through float64 for float32 (the product is exact there) and
    long double for float64 (within one rounding and 2^-11 of one)."""
    wide = np.float64 if a.dtype == np.float32 else np.longdouble
    return (np.asarray(a, wide) * np.asarray(b, wide) + np.asarray(c, wide)).astype(a.dtype)


def run(form: Form, p: Params, X, Y, reg: float, lr: float, dtype
        ) -> tuple[Params, Params, float]:
    """(gradient, parameters after one SGD step, loss before it) of the form, computed in
    dtype from p, X, Y (their values exactly representable in dtype), reg and lr rounded to
    dtype as a program in that dtype holds them."""
    t = np.dtype(dtype).type
    W1, b1, W2, b2 = (np.asarray(a, dtype) for a in p.blocks().values())
    X, Y = np.asarray(X, dtype), np.asarray(Y, dtype)
    reg, lr, N, one = t(reg), t(lr), t(X.shape[1]), t(1)

    z1 = W1 @ X + b1
    a1 = _sigmoid(z1, form.sigmoid)
    z2 = W2 @ a1 + b2
    shifted = z2 - z2.max(axis=0)
    if form.softmax == "shifted":
        e = np.exp(shifted)
        yhat = e / e.sum(axis=0)
    else:
        yhat = np.exp(shifted - np.log(np.exp(shifted).sum(axis=0)))
    with np.errstate(divide="ignore"):
        picked = (-np.log(yhat) if form.loss == "log" else
                  np.log(np.exp(shifted).sum(axis=0)) - shifted)
    data = (Y * np.where(Y > 0, picked, t(0))).sum() / N
    if form.loss == "norm":
        l2 = t(0.5) * reg * (np.linalg.norm(W1) ** 2 + np.linalg.norm(W2) ** 2)
    else:
        l2 = reg / t(2) * ((W1 * W1).sum() + (W2 * W2).sum())
    J = float(data + l2)

    deferred = form.delta == "deferred"
    if form.delta == "subtract":
        dz2 = (yhat - Y) / N
    elif form.delta == "divide":
        dz2 = yhat / N - Y / N
    elif form.delta == "reciprocal":
        dz2 = (yhat - Y) * (one / N)
    else:
        dz2 = yhat - Y
    da1 = W2.T @ dz2
    slope = a1 * (one - a1) if form.slope == "a(1-a)" else a1 - a1 * a1
    dz1 = da1 * slope
    sums = {"W1": _outer_sum(dz1, X, form.products), "b1": _rowsum(dz1, form.products),
            "W2": _outer_sum(dz2, a1, form.products), "b2": _rowsum(dz2, form.products)}
    mean = {k: S / N if deferred else S for k, S in sums.items()}
    params = {"W1": W1, "b1": b1, "W2": W2, "b2": b2}

    def gradient(name: str):
        if not name.startswith("W"):
            return mean[name]
        if form.l2 == "inside":
            return (sums[name] + N * reg * params[name]) / N
        return mean[name] + reg * params[name]

    grad = Params(*(gradient(k) for k in params))

    def updated(name: str):
        P = params[name]
        if form.lr == "over_n":
            step = (lr / N) * sums[name]
        else:
            step = None
        if not name.startswith("W") or form.l2 in ("gradient", "inside"):
            g = getattr(grad, name)
            if form.fused:
                return _fused(g, -lr, P)
            return P - (lr * g if step is None else step)
        step = lr * mean[name] if step is None else step
        if form.l2 == "parts":
            return P - step - lr * reg * P
        if form.l2 == "factored":
            return _fused(P, one - lr * reg, -step) if form.fused else P * (one - lr * reg) - step
        decayed = P - lr * reg * P
        return decayed - step

    return grad, Params(*(updated(k) for k in params)), J
