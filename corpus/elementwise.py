"""The network's elementwise steps in other hands, computed in float32 or float64: honest
formulas (each another way to write the same function, stable where the oracle is) and ones
with a bug planted on purpose. Inputs reach the extremes each step's stability is for:
|z| near overflow, in every position of a softmax column.

Each op is (name, compute, judge): compute(inputs, dtype) -> result; judge(result, inputs)
-> Verdict (judge/elementwise.py)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..judge import elementwise as E

Op = Callable[[dict, np.dtype], np.ndarray]


def _t(dtype, x):
    return np.asarray(x, dtype=dtype)


# --- sigmoid ---------------------------------------------------------------------------------

def sigmoid_by_cases(inputs, dtype):
    """1 / (1 + e^-z) for z >= 0, e^z / (1 + e^z) below: exp of -|z| only."""
    z = _t(dtype, inputs["z"])
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1 / (1 + e), e / (1 + e)).astype(dtype)


def sigmoid_by_logaddexp(inputs, dtype):
    z = _t(dtype, inputs["z"])
    return np.exp(-np.logaddexp(dtype.type(0), -z)).astype(dtype)


def sigmoid_by_tanh(inputs, dtype):
    """1/2 + tanh(z/2)/2: exact in exact arithmetic, but for z << 0 the sum cancels and the
    tail's relative accuracy is lost."""
    z = _t(dtype, inputs["z"])
    return (dtype.type(0.5) + dtype.type(0.5) * np.tanh(z / dtype.type(2))).astype(dtype)


def sigmoid_naive(inputs, dtype):
    """1 / (1 + exp(-z)) as written: exp(-z) overflows for z << 0 and the tail is lost."""
    z = _t(dtype, inputs["z"])
    with np.errstate(over="ignore"):
        return (1 / (1 + np.exp(-z))).astype(dtype)


def sigmoid_in_half(inputs, dtype):
    """exp taken in float16 (a fast-math intrinsic): 11 bits."""
    z = _t(dtype, inputs["z"])
    with np.errstate(over="ignore"):
        e = np.exp(-np.abs(z).astype(np.float16)).astype(dtype)
    return np.where(z >= 0, 1 / (1 + e), e / (1 + e)).astype(dtype)


# --- softmax ---------------------------------------------------------------------------------

def softmax_shifted(inputs, dtype):
    z = _t(dtype, inputs["z"])
    e = np.exp(z - z.max(axis=0))
    return (e / e.sum(axis=0)).astype(dtype)


def softmax_by_log(inputs, dtype):
    z = _t(dtype, inputs["z"])
    shifted = z - z.max(axis=0)
    return np.exp(shifted - np.log(np.exp(shifted).sum(axis=0))).astype(dtype)


def softmax_column_by_column(inputs, dtype):
    """A kernel's loop: one column at a time, the sum accumulated one term at a time."""
    z = _t(dtype, inputs["z"])
    out = np.empty_like(z)
    for j in range(z.shape[1]):
        e = np.exp(z[:, j] - z[:, j].max())
        total = dtype.type(0)
        for v in e:
            total = dtype.type(total + v)
        out[:, j] = e / total
    return out


def softmax_unshifted(inputs, dtype):
    """exp(z) / sum exp(z): overflows at large logits."""
    z = _t(dtype, inputs["z"])
    with np.errstate(over="ignore", invalid="ignore"):
        e = np.exp(z)
        return (e / e.sum(axis=0)).astype(dtype)


def softmax_max_skips_row_0(inputs, dtype):
    """The column maximum taken over rows 1..9 only: harmless until the large logit is in
    row 0."""
    z = _t(dtype, inputs["z"])
    with np.errstate(over="ignore", invalid="ignore"):
        e = np.exp(z - z[1:].max(axis=0))
        return (e / e.sum(axis=0)).astype(dtype)


# --- the deltas and the update ----------------------------------------------------------------

def output_delta(inputs, dtype):
    yhat = _t(dtype, inputs["yhat"])
    onehot = np.eye(10, dtype=dtype)[:, inputs["labels"]]
    return ((yhat - onehot) / dtype.type(inputs["N"])).astype(dtype)


def output_delta_not_averaged(inputs, dtype):
    yhat = _t(dtype, inputs["yhat"])
    return (yhat - np.eye(10, dtype=dtype)[:, inputs["labels"]]).astype(dtype)


def sigmoid_delta(inputs, dtype):
    a = _t(dtype, inputs["a"])
    return (_t(dtype, inputs["da"]) * a * (dtype.type(1) - a)).astype(dtype)


def sigmoid_delta_cancelling(inputs, dtype):
    """da (a - a^2): near a = 1 the difference cancels (1 - a is exact there, a - a^2 not)."""
    a = _t(dtype, inputs["a"])
    return (_t(dtype, inputs["da"]) * (a - a * a)).astype(dtype)


def sigmoid_delta_plus(inputs, dtype):
    """a (1 + a) for a (1 - a)."""
    a = _t(dtype, inputs["a"])
    return (_t(dtype, inputs["da"]) * a * (dtype.type(1) + a)).astype(dtype)


def update(inputs, dtype):
    return (_t(dtype, inputs["p"]) - dtype.type(inputs["lr"]) * _t(dtype, inputs["g"])
            ).astype(dtype)


def update_fused(inputs, dtype):
    """The update through a fused multiply-add (emulated in float64 for float32)."""
    p, g = (np.asarray(inputs[k], np.float64) for k in ("p", "g"))
    return (p - np.float64(dtype.type(inputs["lr"])) * g).astype(dtype)


def update_wrong_sign(inputs, dtype):
    return (_t(dtype, inputs["p"]) + dtype.type(inputs["lr"]) * _t(dtype, inputs["g"])
            ).astype(dtype)


def update_lr_twice(inputs, dtype):
    lr = dtype.type(inputs["lr"])
    return (_t(dtype, inputs["p"]) - lr * lr * _t(dtype, inputs["g"])).astype(dtype)


# op -> (judge, honest formulas, bugs)
OPS: dict[str, tuple[Callable, dict[str, Op], dict[str, Op]]] = {
    "sigmoid": (lambda a, x: E.compare_sigmoid(a, x["z"]),
                {"by cases": sigmoid_by_cases, "logaddexp": sigmoid_by_logaddexp},
                {"naive 1 / (1 + exp(-z))": sigmoid_naive, "exp in float16": sigmoid_in_half,
                 "1/2 + tanh(z/2)/2 (cancels in the tail)": sigmoid_by_tanh}),
    "softmax": (lambda y, x: E.compare_softmax(y, x["z"]),
                {"shifted": softmax_shifted, "through the log": softmax_by_log,
                 "column by column": softmax_column_by_column},
                {"without the max subtracted": softmax_unshifted,
                 "column max skipping row 0": softmax_max_skips_row_0}),
    "output delta": (lambda d, x: E.compare_output_delta(d, x["yhat"], x["labels"], x["N"]),
                     {"as written": output_delta},
                     {"not divided by N": output_delta_not_averaged}),
    "sigmoid delta": (lambda d, x: E.compare_sigmoid_delta(d, x["da"], x["a"]),
                      {"as written": sigmoid_delta},
                      {"a (1 + a)": sigmoid_delta_plus,
                       "a - a^2 (cancels near a = 1)": sigmoid_delta_cancelling}),
    "update": (lambda q, x: E.compare_update(q, x["p"], x["g"], x["lr"]),
               {"as written": update, "fused": update_fused},
               {"wrong sign": update_wrong_sign, "lr applied twice": update_lr_twice}),
}


def inputs(op: str, kind: str, dtype, seed: int) -> dict:
    """Inputs for op, exactly representable in dtype: "normal" data, or "extreme": |z| on
    both sides of where dtype's exp overflows (and where the result underflows), and in a
    softmax column a logit beyond it in every row in turn."""
    rng = np.random.default_rng(seed)
    edge = float(np.log(np.finfo(dtype).max))  # exp(edge) is the largest finite value
    as_dtype = lambda x: np.asarray(x, dtype).astype(np.float64)  # noqa: E731
    if op == "sigmoid":
        z = rng.standard_normal((9, 40)) * 4
        if kind == "extreme":
            tail = edge * np.array([0.99, 1.01, 1.05, 1.1, 1.15, 1.2, 1.5, 3.0])
            z = np.concatenate([z, [np.concatenate([tail, -tail, [1e30, -1e30] * 12])]])
        return {"z": as_dtype(z)}
    if op == "softmax":
        z = rng.standard_normal((10, 30)) * 3
        if kind == "extreme":
            for row in range(10):  # a logit near or past overflow in each row in turn
                z[row, 3 * row:3 * row + 3] = edge * np.array([0.99, 1.5, -1.5])
        return {"z": as_dtype(z)}
    if op == "output delta":
        z = rng.standard_normal((10, 25)) * (edge / 2 if kind == "extreme" else 3)
        e = np.exp(z - z.max(axis=0))
        return {"yhat": as_dtype(e / e.sum(axis=0)), "labels": rng.integers(0, 10, 25),
                "N": 25}
    if op == "sigmoid delta":
        a = 1 / (1 + np.exp(-rng.standard_normal((11, 13)) * (30 if kind == "extreme" else 3)))
        return {"a": as_dtype(a), "da": as_dtype(rng.standard_normal((11, 13)))}
    scale = 1e30 if kind == "extreme" and dtype == np.float32 else (
        1e300 if kind == "extreme" else 1.0)
    return {"p": as_dtype(rng.standard_normal((8, 9)) * scale),
            "g": as_dtype(rng.standard_normal((8, 9)) * scale), "lr": 0.37}
