"""Which bug? A failing gradient, step or loss verdict tested against the usual mistakes, each
computed with the oracle in float64 and compared block by block within the same rigorous
bounds: the mistake that reproduces every failing block (and changes none of the passing
ones it touches) is named, with how closely it matches. None: the blocks that are right and
the ones that are not, which narrows the search.

    fitted per block: the gradient as c_d (data term) + c_l (lambda W), the biases as
    c_d (data term) + c_b (lambda b), and for a step (p - p') / lr:
        L2 term missing, halved, doubled, divided by N, scaled; L2 term on the biases; an
        L2 term where none was given (its lambda fitted, to pass as --reg);
        the batch sum instead of the mean, the mean taken twice, the data term scaled;
        the sign flipped (ascent); N or -N times the gradient; the update scaled;
        a block not updated
    structural: the sigmoid's derivative taken as a; tanh in place of the sigmoid; a sigmoid
        in place of the softmax; the labels off by one class; W2 updated before dz1 is
        computed from it
    the loss: its L2 term missing or not halved; summed instead of averaged
"""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np

from ..common.params import Params
from ..reference import network
from .bounds import allowed
from .roundoff import judged_dtype
from .verdict import QUIET, Cause, Verdict

ISOLATED = 5  # at most this many wrong elements are isolated ones
NICE = 1e-6  # a fitted coefficient this close (relative) to a named value is that value
# (for float64 results; 2^-10 for float32 ones, whose rounding the least squares carry)


@dataclasses.dataclass(frozen=True)
class Alternative:
    short: str  # the cause's name
    name: str  # in words
    grad: Params  # the gradient it computes (for a step, what its update amounts to)


def _named(c: float, N: int, nice: float = NICE) -> str | None:
    """The name of a coefficient: 0, 1, 2, 1/2, N, 1/N and their negatives."""
    for value, name in ((0.0, "0"), (1.0, "1"), (2.0, "2"), (0.5, "1/2"), (float(N), "N"),
                        (1.0 / N, "1/N")):
        for sign, s in ((1, ""), (-1, "-")):
            target = sign * value
            if abs(c - target) <= nice * max(1.0, abs(target)):
                return f"{s}{name}" if name != "0" else "0"
    return None


WHOLE = {  # the whole gradient times c: (name, its words)
    "0": ("not updated", "the block not updated"),
    "-1": ("sign flipped", "the sign flipped (ascent instead of descent)"),
    "N": ("N times the gradient", "N times the gradient (the batch sum instead of the mean)"),
    "-N": ("-N times the gradient", "-N times the gradient (log-likelihood ascent, summed)"),
    "1/N": ("batch mean taken twice", "the gradient divided by N again (the batch mean taken "
                                      "twice)"),
}
DATA = {"0": "data term missing", "-1": "data term's sign flipped",
        "N": "batch sum instead of mean", "1/N": "batch mean taken twice"}
L2 = {"0": "L2 term missing", "2": "L2 term doubled", "1/2": "L2 term halved",
      "1/N": "L2 term divided by N", "-1": "L2 term's sign flipped"}


def _fitted(c_data: float, c_l2: float | None, N: int, step: bool, nice: float = NICE
            ) -> tuple[str, str] | None:
    """(name, words) of a gradient computed as c_data (data term) + c_l2 (its L2 term; None
    where no failing block has one, so the data term is the whole gradient)."""
    d = _named(c_data, N, nice)
    whole = c_l2 is None or abs(c_l2 - c_data) <= nice * max(1.0, abs(c_data))
    if whole:
        if d == "1":
            return None
        if d in WHOLE and not (d == "0" and not step):
            return WHOLE[d]
        if step:
            return ("update scaled", f"the update scaled by {c_data:.6g} (the learning rate, "
                                     "or the gradient, that many times too large)")
        return ("gradient scaled", f"the gradient scaled by {c_data:.6g}")
    l2 = _named(c_l2, N, nice)
    parts = []  # (name, words)
    if d != "1":
        over = N / c_data if c_data else 0.0
        note = (f" (averaged over {over:.0f} instead of the batch's {N})"
                if over > 0 and abs(over - round(over)) < nice * over else "")
        parts.append((DATA[d], f"the {DATA[d]}") if d in DATA else
                     ("data term scaled", f"the data term scaled by {c_data:.6g}{note}"))
    if l2 != "1":
        parts.append((L2[l2], f"the {L2[l2]}" + (
            " (the convention lambda/(2 N) |W|^2 in the loss, as in Nielsen's network2.py: "
            "give --reg lambda/N)" if l2 == "1/N" else "")) if l2 in L2 else
                     ("L2 term scaled", f"the L2 term scaled by {c_l2:.6g}"))
    name = parts[0][0] if len(parts) == 1 else "several mistakes"
    return name, "; ".join(words for _, words in parts)


def _fit(y: np.ndarray, columns: list[np.ndarray]) -> np.ndarray:
    """Least-squares coefficients of y on the columns (each flattened)."""
    A = np.column_stack([c.ravel() for c in columns])
    return np.linalg.lstsq(A, y.ravel(), rcond=None)[0]


def _backward(p: Params, X, Y, reg: float, derivative=None, hidden=None, output=None
              ) -> Params:
    """The oracle's backward with one piece replaced (the structural mistakes)."""
    hidden = hidden or network.sigmoid
    a1 = hidden(p.W1 @ X + p.b1)
    z2 = p.W2 @ a1 + p.b2
    yhat = (output or network.softmax)(z2)
    N = X.shape[1]
    dz2 = (yhat - Y) / N
    da1 = p.W2.T @ dz2
    dz1 = da1 * (derivative(a1) if derivative else a1 * (1 - a1))
    return Params(dz1 @ X.T + reg * p.W1, dz1.sum(axis=1, keepdims=True),
                  dz2 @ a1.T + reg * p.W2, dz2.sum(axis=1, keepdims=True))


def _structural(p: Params, X, Y, reg: float, lr: float | None) -> list[Alternative]:
    found = [
        Alternative("sigmoid derivative wrong",
                    "the sigmoid's derivative taken as a instead of a (1 - a)",
                    _backward(p, X, Y, reg, derivative=lambda a: a)),
        Alternative("tanh for sigmoid", "tanh in place of the sigmoid (with its own "
                    "derivative)", _backward(p, X, Y, reg, hidden=np.tanh,
                                             derivative=lambda a: 1 - a * a)),
        Alternative("sigmoid for softmax", "a sigmoid in place of the softmax at the output",
                    _backward(p, X, Y, reg, output=network.sigmoid)),
        Alternative("labels shifted", "the labels off by one class",
                    _backward(p, X, np.roll(Y, 1, axis=0), reg)),
    ]
    if lr is not None:  # dz1 from the W2 already updated
        g = network.backward(p, X, Y, reg)
        moved = Params(p.W1, p.b1, p.W2 - lr * g.W2, p.b2)
        fwd = network.forward(p, X)
        dz2 = (fwd.yhat - Y) / X.shape[1]
        dz1 = (moved.W2.T @ dz2) * fwd.a1 * (1 - fwd.a1)
        found.append(Alternative(
            "update order", "W2 updated before dz1 is computed from it",
            Params(dz1 @ X.T + reg * p.W1, dz1.sum(axis=1, keepdims=True), g.W2, g.b2)))
    return found


@QUIET
def diagnose_network(verdicts: dict[str, Verdict], result: Params, p: Params, X, Y,
                     reg: float, lr: float | None = None, dtype=None) -> dict[str, Verdict]:
    """The verdicts of a gradient (lr None) or a step (the parameters after it, lr), judged in
    dtype (default: result's), each failing one without a cause given one: the mistake that
    explains the failing blocks within their rigorous bounds, or which blocks are right."""
    names = list(p.blocks())
    failing = [n for n in names if not verdicts[n].passed and verdicts[n].cause is None]
    if not failing:
        return verdicts
    judged = judged_dtype(result.W1, dtype)[0]
    bound = allowed(p, X, Y, reg, judged, lr)[0]
    cause = _cause(verdicts, result, p, X, Y, reg, bound, lr, failing)
    return {n: dataclasses.replace(v, cause=cause) if n in failing else v
            for n, v in verdicts.items()}


def _as_gradient(result: Params, p: Params, lr: float | None) -> Params:
    if lr is None:
        return result.astype(np.float64)
    return p.map(lambda q, r: (q - r.astype(np.float64)) / lr, result)


def _cause(verdicts, result, p, X, Y, reg, allowed, lr, failing) -> Cause:
    names = list(p.blocks())
    oracle = network.backward(p, X, Y, reg)
    data = network.backward(p, X, Y, 0.0)
    got = _as_gradient(result, p, lr)
    scale = 1.0 if lr is None else lr
    N = X.shape[1]
    # a fitted coefficient is known to about the result's own precision
    nice = NICE if result.W1.dtype == np.float64 else 2.0 ** -10

    def matches(alt: np.ndarray, name: str, times: float = 1.0) -> bool:
        """got's block equals alt's within the bound (times c for a gradient computed c
        times over: its roundings scale with it), and alt is not the oracle's."""
        bound = getattr(allowed, name) / scale * max(1.0, times)
        return (bool(np.all(np.abs(getattr(got, name) - alt) <= bound))
                and not bool(np.all(np.abs(getattr(oracle, name) - alt) <= bound)))

    def closeness(alt: np.ndarray, name: str) -> float:
        return float(np.max(np.abs(getattr(got, name) - alt)) /
                     max(float(np.max(np.abs(alt))), 1e-300))

    # fitted coefficients, shared by every failing block: c_d on the data term, c_l on
    # lambda W (the weights), c_b on lambda b (the biases, which have none)
    explained: dict[str, tuple[str, str]] = {}
    weights = [n for n in failing if n.startswith("W")]
    biases = [n for n in failing if n.startswith("b")]
    ys, columns = [], []
    unit = reg or 1.0  # no lambda given: fit the weights' L2 term's own weight
    for n in failing:
        own = unit * getattr(p, n)
        ys.append(getattr(got, n).ravel())
        columns.append([getattr(data, n).ravel(), own.ravel() if n in weights else
                        np.zeros(own.size), own.ravel() if n in biases else np.zeros(own.size)])
    y = np.concatenate(ys)
    l2_columns = ([1] if weights else []) + ([2] if reg and biases else [])
    # the simplest model that reproduces the failing blocks: the data term alone, then with
    # the L2 columns (a spurious coefficient on a needless column would name a mistake)
    models = [[0]] + [[0, *extra] for r in (1, 2) for extra in
                      itertools.combinations(l2_columns, r)]
    for use in models if np.all(np.isfinite(y)) else ():
        A = np.column_stack([np.concatenate([c[k] for c in columns]) for k in use])
        c = dict(zip(use, np.linalg.lstsq(A, y, rcond=None)[0], strict=True))
        alts = [sum(c[k] * columns[i][k] for k in use).reshape(getattr(got, n).shape)
                for i, n in enumerate(failing)]
        if not all(matches(alt, n, max(abs(x) for x in c.values()))
                   for alt, n in zip(alts, failing, strict=True)):
            continue
        # a model without the L2 column says the weights' L2 term is missing (c_l = 0)
        c_l2 = c.get(1, 0.0) if reg and weights else None
        found = _fitted(c[0], c_l2, N, lr is not None, nice)
        if not reg and c.get(1, 0.0) and _named(c[1], N, nice) != "0":
            lam = c[1]
            other = _fitted(c[0], None, N, lr is not None, nice)
            found = ("L2 weight not the one given",
                     f"an L2 term of weight lambda = {lam:.6g} where none was given (if that "
                     f"is your lambda, give it: --reg {lam:.3g})"
                     + (f"; {other[1]}" if other is not None else ""))
        elif found is not None and found[0] == "L2 term scaled":
            found = (found[0], f"{found[1]}: lambda {reg * c_l2:.6g} where {reg:g} was given "
                               f"(if that is your lambda, give --reg {reg * c_l2:.3g})")
        if 2 in c and _named(c[2], N, nice) != "0":
            on_biases = ("L2 term on the biases", "the L2 term applied to the biases too"
                         if _named(c[2], N, nice) == "1" else f"lambda b times {c[2]:.6g} added")
            found = on_biases if found is None else ("several mistakes",
                                                     f"{found[1]}; {on_biases[1]}")
        if found is not None:
            worst = max(closeness(alt, n) for alt, n in zip(alts, failing, strict=True))
            found = (found[0], f"{found[1]} (it reproduces them to {worst:.2g} relative)")
            explained = {n: found for n in failing}
        break
    for alt in _structural(p, X, Y, reg, lr) if not explained else ():
        fit = [n for n in failing if n not in explained and matches(getattr(alt.grad, n), n)]
        for n in fit:
            explained[n] = (alt.short, f"{alt.name} (it reproduces {n} to "
                                       f"{closeness(getattr(alt.grad, n), n):.2g} relative)")
    right = [n for n in names if verdicts[n].passed]
    wrong = [n for n in failing if n not in explained]
    prefix = "d" if lr is None else ""
    label = lambda ns: ", ".join(prefix + n for n in ns)  # noqa: E731
    if explained and not wrong:
        kinds = {explained[n] for n in failing}
        if len({k[0] for k in kinds}) == 1:
            name, words = explained[failing[0]]
            return Cause(name, f"{words}, in {label(failing)}"
                         + (f" ({label(right)} right)" if right else ""))
        return Cause("several mistakes", "; ".join(f"{prefix}{n}: {explained[n][1]}"
                                                   for n in failing))
    few = sum(verdicts[n].n_failed for n in failing)
    if not explained and few <= ISOLATED:
        listed = "; ".join(f"{verdicts[n].check} {e}" for n in failing
                           for e in verdicts[n].elements)
        return Cause("isolated wrong elements", f"{few} element{'s' if few > 1 else ''} "
                     f"wrong, the rest of "
                     f"{label(failing)} right" + (f" and {label(right)} right" if right else "")
                     + f": {listed}")
    return Cause("unexplained", f"{label(failing)} wrong"
                 + (f", {label(right)} right" if right else "")
                 + "".join(f"; {prefix}{n}: {explained[n][1]}" for n in explained)
                 + _where_it_starts(failing, right, prefix))


def _where_it_starts(failing: list[str], right: list[str], prefix: str) -> str:
    if set(failing) <= {"W1", "b1"} and {"W2", "b2"} <= set(right):
        return (f": the output layer's gradient is right, so the error is in the hidden layer "
                f"(the sigmoid's derivative, W2^T dz2, or {prefix}W1's product with X)")
    return ""


@QUIET
def diagnose_loss(v: Verdict, J: float, p: Params, X, Y, reg: float, dtype) -> Verdict:
    """A failing loss (computed in dtype): its L2 term missing or not halved, or the data term
    summed, within the loss's rigorous bound."""
    if v.passed or v.cause is not None:
        return v
    bound = allowed(p, X, Y, reg, dtype)[1]
    data, l2 = network.loss_terms(p, X, Y, reg)
    N = X.shape[1]
    for name, words, value in (
            ("L2 term missing", "the L2 term missing from the loss", data),
            ("L2 term not halved", "the L2 term not halved", data + 2 * l2),
            ("batch sum instead of mean", "the data term summed, not averaged", N * data + l2),
            *(("L2 term scaled", f"the L2 term counted {k} times", data + k * l2)
              for k in range(3, 9))):
        if abs(J - value) <= bound and abs(value - (data + l2)) > bound:
            return dataclasses.replace(v, cause=Cause(name, f"J = {J!r}: {words} ({value!r}) "
                                                            "to roundoff"))
    return dataclasses.replace(v, cause=Cause("unexplained", f"J = {J!r}; the oracle's "
                                              f"{data + l2!r} (data {data!r}, L2 {l2!r})"))

