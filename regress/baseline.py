"""A baseline directory, meant to be committed, and what a check decides against it.

    baseline.json     provenance, the machine's fingerprint, per subject its settings,
                      checkpoints, loss history and validation accuracy (with the ensemble's),
                      the correctness fingerprints, the speed samples
    SUBJECT.npz       compressed: the float32 anchors at the checkpoints, the run's own
                      quantities there, and the ensemble's (members x checkpoints x Q);
                      the parameters after each of the first steps, whole in the run's
                      dtype, and the ensemble's distances from them (members x steps);
                      the predicted class of each validation image at the end

record() makes the subjects' runs, their ensembles, fingerprints and speed samples and
writes them; check() makes them again and decides (Finding per quantity compared):
trajectories by ensemble consistency, accuracy against the ensemble's band and, image by
image, a binomial interval on the images lost and gained, precision models and worst
ratios against the recorded ones, speed by a rank test on the same machine only.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..common import schema
from ..common.data import Dataset
from ..common.files import write_json, write_npz
from ..common.params import Params
from ..common.shapes import BLOCKS, N_CLASSES, N_PIXELS
from ..judge.finding import Finding
from ..judge.roundoff import unit_roundoff
from ..judge.tolerances import tolerance
from . import consistency, machine, speed, trajectory

FORMAT = 3
BASELINE_JSON = "baseline.json"
MEMBERS = {True: 30, False: 60}  # quick, default
REPEATS = {True: 5, False: 7}


@dataclass
class Subject:
    """One subject as recorded: its trajectory, ensemble and outcome."""

    name: str
    run: trajectory.Run
    val: Dataset | None = None  # the validation set of its data, where it has one


class BaselineError(ValueError):
    """A baseline that cannot be read: corrupt, incomplete, or of another format."""


def _params_arrays(prefix: str, params: list[Params]) -> dict[str, np.ndarray]:
    return {f"{prefix}_{i}_{name}": block for i, p in enumerate(params)
            for name, block in p.blocks().items()}


def _params_of(arrays: dict, prefix: str, count: int) -> list[Params]:
    return [Params(*(arrays[f"{prefix}_{i}_{b}"] for b in BLOCKS)) for i in range(count)]


def outcome(run: trajectory.Run, val: Dataset | None) -> dict:
    """The run's validation accuracy and the size of the set, for baseline.json."""
    if val is None:
        return {"val_accuracy": None, "val_images": 0}
    return {"val_accuracy": trajectory.val_accuracy(run.params[-1], val),
            "val_images": len(val)}


def record_subject(out: Path, subject: Subject, members: int) -> dict:
    """Write SUBJECT.npz; the subject's entry of baseline.json."""
    run, val = subject.run, subject.val
    at = trajectory.checkpoints(run.steps)
    anchor = trajectory.anchors(run, at)
    first = trajectory.first_steps(run)
    ensemble = trajectory.ensemble(run, members, at, anchor, first)
    outcomes = {} if val is None else {
        "val_predictions": trajectory.predictions(run.params[-1], val)}
    write_npz(out / f"{subject.name}.npz", {
        "recorded": trajectory.trajectory(run, at, anchor), "ensemble": ensemble.quantities,
        "first_ensemble": ensemble.first, **_params_arrays("anchor", anchor),
        **_params_arrays("first", first), **outcomes}, compressed=True)
    return {"dtype": run.dtype.name, "steps": run.steps, "checkpoints": at,
            "first_steps": len(first), "members": members, "batch": run.batch, "lr": run.lr,
            "reg": run.reg, "hidden": run.params[0].hidden,
            "loss": trajectory.losses(run).tolist(), **outcome(run, val),
            "member_accuracy": [] if val is None else [
                trajectory.val_accuracy(p, val) for p in ensemble.finals]}


def write(out: Path, quick: bool, subjects: dict, prints: dict, speeds: dict) -> None:
    write_json(out / BASELINE_JSON, {
        "format": FORMAT, "quick": quick, "provenance": machine.provenance(),
        "machine": machine.fingerprint(), "subjects": subjects, "fingerprints": prints,
        "speed": speeds})


def read(directory: Path) -> dict:
    """baseline.json, checked; a BaselineError naming the file and what is wrong."""
    path = Path(directory) / BASELINE_JSON
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise BaselineError(f"{path}: cannot read the baseline: {err}") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise BaselineError(f"{path}: not a baseline of format {FORMAT} (re-record it with "
                            "`oraclenet regress record`)")
    missing = [k for k in ("quick", "machine", "subjects", "fingerprints", "speed")
               if k not in data]
    if missing:
        raise BaselineError(f"{path}: incomplete, missing {', '.join(missing)}")
    shapes = {"subjects": dict, "fingerprints": dict, "speed": dict, "machine": dict}
    wrong = [k for k, kind in shapes.items() if not isinstance(data[k], kind)]
    if wrong or any(speed.Samples.from_json(v) is None for v in data["speed"].values()):
        raise BaselineError(f"{path}: malformed ({', '.join(wrong) or 'speed'})")
    if not data["subjects"]:
        raise BaselineError(f"{path}: no subjects: nothing to check against")
    try:
        for name, entry in data["subjects"].items():
            _validate_subject(path, name, entry, data["subjects"], bool(data["quick"]))
    except ValueError as err:
        raise BaselineError(str(err)) from None
    return data


KINDS = ("oracle", "gpu", "run", "impl-step", "impl-gemm", "mpi-data", "mpi-model")
OUTCOME = {"val_accuracy": schema.optional_number(0.0, 1.0), "val_images": schema.integer(0)}
# A subject with a trajectory and an ensemble (record_subject's entry).
TRAJECTORY = {"kind": schema.one_of(*KINDS), "dtype": schema.one_of("float32", "float64"),
              "steps": schema.integer(1), "checkpoints": schema.numbers(1, ascending=True),
              "first_steps": schema.integer(0), "members": schema.integer(MEMBERS[True]),
              "batch": schema.integer(1), "lr": schema.number(0.0, True),
              "reg": schema.number(0.0, False), "hidden": schema.integer(1),
              "loss": schema.numbers(0.0), "member_accuracy": schema.numbers(0.0, 1.0),
              **OUTCOME}
RULES = {
    "mpi-data": {"kind": schema.one_of(*KINDS), "against": schema.text(),
                 "ranks": schema.integer(1), **OUTCOME},
    "impl-gemm": {"kind": schema.one_of(*KINDS), "impl": schema.text(),
                  "dtype": schema.one_of("float32", "float64"), "convention": schema.text(),
                  "arrays": schema.text(), "layout": schema.text()},
}
RULES["mpi-model"] = RULES["mpi-data"]


def _validate_subject(path: Path, name: str, entry, subjects: dict, quick: bool) -> None:
    """One subject's entry of baseline.json: its keys in range, its checkpoints inside its
    run, its ensemble at least the size a baseline records, what it is judged against there."""
    where = f"subject {name}:"
    kind = entry.get("kind") if isinstance(entry, dict) else None
    kind = kind if isinstance(kind, str) else None  # anything else: refused by TRAJECTORY
    schema.validate(path, where, entry, RULES.get(kind, TRAJECTORY))
    if kind in RULES:
        against = subjects.get(entry.get("against", name))
        if kind != "impl-gemm" and (not isinstance(against, dict)
                                    or against.get("kind") in RULES):
            raise ValueError(f"{path}: {where} judged against {entry['against']!r}, which is "
                             "not a recorded trajectory")
        return
    at = entry["checkpoints"]
    if not at or not all(isinstance(c, int) and c <= entry["steps"] for c in at):
        raise ValueError(f"{path}: {where} checkpoints {at} must be steps 1 to "
                         f"{entry['steps']} of the run")
    if entry["first_steps"] > entry["steps"]:
        raise ValueError(f"{path}: {where} first_steps {entry['first_steps']} beyond its "
                         f"{entry['steps']} steps")
    if entry["members"] < MEMBERS[quick]:
        raise ValueError(f"{path}: {where} an ensemble of {entry['members']}; a "
                         f"{'quick ' if quick else ''}baseline records {MEMBERS[quick]}")
    if entry["member_accuracy"] and len(entry["member_accuracy"]) != entry["members"]:
        raise ValueError(f"{path}: {where} {len(entry['member_accuracy'])} member accuracies "
                         f"for {entry['members']} members")


@dataclass(frozen=True)
class Recorded:
    """A recorded subject as a check uses it: the ensemble's model per checkpoint, the run's
    own quantities and the anchors there, the parameters after each of the first steps and
    the ensemble's distances from them (members x steps, roundings of u)."""

    models: list
    quantities: np.ndarray
    anchor: list[Params]
    first: list[Params]
    first_ensemble: np.ndarray
    u: float
    predictions: np.ndarray | None  # on the validation set, from the final parameters


def load_subject(directory: Path, name: str, entry: dict) -> Recorded:
    """The subject's arrays, checked against its entry (read() checked the entry): finite,
    of the recorded shapes, and an ensemble with some spread at every checkpoint."""
    path = Path(directory) / f"{name}.npz"
    try:
        with np.load(path) as f:
            arrays = {k: f[k] for k in f.files}
        at = entry["checkpoints"]
        anchor = _params_of(arrays, "anchor", len(at))
        first = _params_of(arrays, "first", int(entry["first_steps"]))
        ensemble, recorded = arrays["ensemble"], arrays["recorded"]
        first_ensemble = arrays["first_ensemble"]
        predictions = arrays.get("val_predictions")
        u = unit_roundoff(entry["dtype"])
    except Exception as err:  # an untrusted file: zipfile, zlib and numpy raise many kinds
        raise BaselineError(f"{path}: cannot read subject {name}: {type(err).__name__}: "
                            f"{err}") from None
    members = entry["members"]
    if ensemble.shape != (members, len(at), len(trajectory.QUANTITIES)) or \
            recorded.shape != ensemble.shape[1:]:
        raise BaselineError(f"{path}: the ensemble {ensemble.shape} and the recorded "
                            f"trajectory {recorded.shape} do not match {members} members, "
                            f"{len(at)} checkpoints and {len(trajectory.QUANTITIES)} "
                            "quantities")
    if first_ensemble.shape != (members, len(first)):
        raise BaselineError(f"{path}: the ensemble's first steps {first_ensemble.shape} do not "
                            f"match {members} members and {len(first)} steps")
    if predictions is not None and predictions.shape != (entry.get("val_images"),):
        raise BaselineError(f"{path}: {predictions.shape} validation predictions for "
                            f"{entry.get('val_images')} images")
    hidden = entry["hidden"]
    for what, values in (("ensemble", ensemble), ("recorded trajectory", recorded),
                         ("first steps' distances", first_ensemble),
                         *((f"parameters {k}", v) for k, v in arrays.items()
                           if k.startswith(("anchor_", "first_")))):
        if values.dtype.kind != "f" or not np.all(np.isfinite(values)):
            raise BaselineError(f"{path}: the {what} must be finite numbers")
    for p in (*anchor, *first):
        if p.W1.shape != (hidden, N_PIXELS) or p.W2.shape != (N_CLASSES, hidden):
            raise BaselineError(f"{path}: parameters of H = {p.W1.shape[0]}, the subject's "
                                f"H is {hidden}")
    flat = np.flatnonzero(ensemble.std(axis=0).max(axis=1) == 0)
    if flat.size:
        raise BaselineError(f"{path}: the ensemble has no spread at checkpoint {at[flat[0]]}: "
                            "its members are one run, not a roundoff ensemble")
    return Recorded(consistency.fit(ensemble), recorded, anchor, first, first_ensemble, u,
                    predictions)


def judge_first_steps(name: str, now: list[float], then: Recorded) -> Finding:
    """Information, not a decision (the trajectory's test decides): from which of the first
    steps on the run differs from the baseline bit for bit, and by how many roundings
    (`now`, trajectory.distances), beside the ensemble's largest distance at each step."""
    what = f"{name}: first steps"
    if not any(now):
        return Finding(what, "identical", f"the parameters after steps 1 to {len(now)} bit "
                       "for bit the baseline's")
    start = next(j for j, r in enumerate(now, 1) if r)
    return Finding(what, "differs", f"from step {start}: {_figures(now)} roundings per step; "
                   f"the ensemble's at most {_figures(then.first_ensemble.max(axis=0))}")


def _figures(values) -> str:
    return ", ".join(f"{v:.3g}" for v in values)


def judge_trajectory(name: str, run: trajectory.Run, then: Recorded, at: list[int]
                     ) -> Finding:
    new = trajectory.trajectory(run, at, then.anchor)
    c = consistency.judge(then.models, new, then.quantities)
    what = f"{name}: trajectory"
    if c.identical:
        return Finding(what, "identical", f"bit for bit the baseline's at steps {at}")
    worst = (f"worst at step {at[c.worst_step - 1]} in {trajectory.QUANTITIES[c.worst_quantity]}"
             f" (z = {c.worst_z:.3g}); smallest p = {c.min_p:.3g} against alpha / "
             f"{len(at)} = {c.alpha / len(at):.3g}")
    if c.consistent:
        return Finding(what, "consistent", f"inside the ensemble at every checkpoint; {worst}")
    return Finding(what, "REGRESSION", f"leaves the roundoff ensemble at step "
                   f"{at[c.first_step - 1]}: {worst}", ok=False)


def judge_accuracy(name: str, run: trajectory.Run, val: Dataset | None,
                   then: np.ndarray | None, band: list[float]) -> Finding | None:
    """Validation accuracy of the run's final parameters, paired image by image with the
    baseline's predictions `then` (None where either has no validation set); `band`: the
    ensemble members' accuracies (empty: the baseline's alone). A regression when the
    accuracy is below the ensemble's band and the images it lost outnumber those it gained
    beyond chance: of the images whose verdict changed, the share lost has a binomial
    confidence interval (Clopper-Pearson, scipy.stats.binomtest) lying above one half, at
    [regress] false_alarm one-sided (McNemar's exact test). An unpaired interval on the
    accuracy would be blind to a few points on a few hundred images."""
    from scipy.stats import binomtest

    if then is None or val is None:
        return None
    now = trajectory.predictions(run.params[-1], val)
    if len(now) != len(then):
        raise ValueError(f"{name}: {len(now)} validation images; the baseline judged "
                         f"{len(then)}")
    right_then, right_now = then == val.labels, now == val.labels
    before, accuracy = float(right_then.mean()), float(right_now.mean())
    lost, gained = int((right_then & ~right_now).sum()), int((~right_then & right_now).sum())
    band = band or [before]
    what, alpha = f"{name}: validation accuracy", tolerance("regress.false_alarm")
    detail = (f"{accuracy:.4f} on {len(now)} images; baseline {before:.4f}, ensemble "
              f"{min(band):.4f} to {max(band):.4f}")
    if lost + gained == 0:
        return Finding(what, "consistent", f"{detail}; every image judged as before")
    test = binomtest(lost, lost + gained, 0.5, alternative="greater")
    interval = binomtest(lost, lost + gained).proportion_ci(1 - 2 * alpha)
    detail += (f"; {lost} images lost, {gained} gained: the share lost "
               f"{lost / (lost + gained):.2f} (interval {interval.low:.2f} to "
               f"{interval.high:.2f}), p = {test.pvalue:.2g}")
    if accuracy < min(band) and test.pvalue < alpha:
        return Finding(what, "REGRESSION", detail, ok=False)
    return Finding(what, "consistent", detail)


def judge_fingerprints(then: dict, now: dict) -> list[Finding]:
    """A precision model that changes is a regression; a worst ratio that grows [regress]
    drift times or more while still passing is drift (a warning)."""
    drift = tolerance("regress.drift")
    found = []
    def bits(prints: dict, key: str) -> str:
        b = prints.get("bits", {}).get(key)
        return "" if b is None else f" ({b:.1f} bits)"

    for key, old in then.get("models", {}).items():
        new = now.get("models", {}).get(key)
        if new is None:
            continue
        if new != old:
            found.append(Finding(f"precision of {key}", "REGRESSION",
                                 f"behaved like {old}{bits(then, key)}, now like "
                                 f"{new}{bits(now, key)}", ok=False))
        else:
            found.append(Finding(f"precision of {key}", "same",
                                 f"behaves like {new}{bits(now, key)}"))
    compared = 0
    for key, old in then.get("ratios", {}).items():
        new = now.get("ratios", {}).get(key)
        if new is None or old is None:
            continue
        compared += 1
        if new > 1:
            found.append(Finding(f"worst ratio of {key}", "REGRESSION",
                                 f"{new:.3g}: outside its bound (was {old:.3g})",
                                 ok=False))
        elif old > 0 and new >= drift * old:
            found.append(Finding(f"worst ratio of {key}", "drift",
                                 f"{old:.3g} then, {new:.3g} now: {new / old:.3g} times"))
    if compared and not any(f.path.startswith("worst ratio") for f in found):
        found.append(Finding(f"worst ratios of {compared} checks", "same",
                             f"none outside its bound, none grown {drift:g} times"))
    return found


def judge_speed(then: dict, now: dict[str, speed.Samples], differ: list[str]
                ) -> list[Finding]:
    """then: the baseline's speed entries (read() checked them); now: the samples measured
    on this machine, whose differences from the recording machine are `differ`."""
    found = []
    for name, entry in then.items():
        if differ:
            v = speed.SpeedVerdict(name, "not compared", None, None,
                                   "another machine: " + "; ".join(differ))
        elif name not in now:
            continue
        else:
            v = speed.compare(name, speed.Samples.from_json(entry), now[name])
        detail = v.reason if v.status == "not compared" else str(v).split(": ", 1)[1]
        found.append(Finding(f"speed: {name}", v.status, detail,
                             ok=v.status != "slower"))
    return found
