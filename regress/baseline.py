"""A baseline directory, meant to be committed, and what a check decides against it.

    baseline.json     provenance, the machine's fingerprint, per subject its settings,
                      checkpoints, loss history and validation accuracy (with the ensemble's),
                      the correctness fingerprints, the speed samples
    SUBJECT.npz       compressed: the float32 anchors at the checkpoints, the run's own
                      quantities there, and the ensemble's (members x checkpoints x Q)

record() makes the subjects' runs, their ensembles, fingerprints and speed samples and
writes them; check() makes them again and decides (Finding per quantity compared):
trajectories by ensemble consistency, accuracy against the ensemble's band and a binomial
interval, precision models and worst ratios against the recorded ones, speed by a rank test
on the same machine only.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..common.files import write_json, write_npz
from ..common.params import Params
from ..common.shapes import BLOCKS
from ..judge.tolerances import tolerance
from . import consistency, machine, speed, trajectory

FORMAT = 1
BASELINE_JSON = "baseline.json"
MEMBERS = {True: 30, False: 60}  # quick, default
REPEATS = {True: 5, False: 7}


@dataclass
class Subject:
    """One subject as recorded: its trajectory, ensemble and outcome."""

    name: str
    run: trajectory.Run
    val_accuracy: float | None = None
    val_images: int = 0
    member_accuracy: list[float] = field(default_factory=list)


@dataclass(frozen=True)
class Finding:
    """One thing compared: what, the verdict word, and the numbers in words."""

    what: str
    verdict: str  # identical, consistent, same, faster, not compared, drift, REGRESSION
    detail: str
    regression: bool = False


class BaselineError(ValueError):
    """A baseline that cannot be read: corrupt, incomplete, or of another format."""


def _anchor_arrays(anchor: list[Params]) -> dict[str, np.ndarray]:
    return {f"anchor_{i}_{name}": block for i, p in enumerate(anchor)
            for name, block in p.blocks().items()}


def record_subject(out: Path, subject: Subject, members: int, val=None) -> dict:
    """Write SUBJECT.npz; the subject's entry of baseline.json."""
    run = subject.run
    at = trajectory.checkpoints(run.steps)
    anchor = trajectory.anchors(run, at)
    ensemble, finals = trajectory.ensemble(run, members, at, anchor)
    if val is not None:
        subject.member_accuracy = [trajectory.val_accuracy(p, val) for p in finals]
    write_npz(out / f"{subject.name}.npz", {
        "recorded": trajectory.trajectory(run, at, anchor), "ensemble": ensemble,
        **_anchor_arrays(anchor)}, compressed=True)
    return {"dtype": run.dtype.name, "steps": run.steps, "checkpoints": at,
            "members": members, "batch": run.batch, "lr": run.lr, "reg": run.lam,
            "hidden": run.params[0].hidden, "loss": trajectory.losses(run).tolist(),
            "val_accuracy": subject.val_accuracy, "val_images": subject.val_images,
            "member_accuracy": subject.member_accuracy}


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
    if wrong or not all(isinstance(e, dict) for e in data["subjects"].values()) or not all(
            isinstance(v, list) and len(v) >= 2 for v in data["speed"].values()):
        raise BaselineError(f"{path}: malformed ({', '.join(wrong) or 'subjects or speed'})")
    return data


def load_subject(directory: Path, name: str, entry: dict):
    """(models, recorded quantities, anchors) of a recorded subject."""
    path = Path(directory) / f"{name}.npz"
    try:
        with np.load(path) as f:
            arrays = {k: f[k] for k in f.files}
        at = entry["checkpoints"]
        anchor = [Params(*(arrays[f"anchor_{i}_{b}"] for b in BLOCKS)) for i in range(len(at))]
        ensemble, recorded = arrays["ensemble"], arrays["recorded"]
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise BaselineError(f"{path}: cannot read subject {name}: {err}") from None
    if ensemble.ndim != 3 or ensemble.shape[1:] != recorded.shape or \
            recorded.shape != (len(at), len(trajectory.QUANTITIES)):
        raise BaselineError(f"{path}: the ensemble {ensemble.shape} and the recorded "
                            f"trajectory {recorded.shape} do not match {len(at)} checkpoints")
    return consistency.fit(ensemble), recorded, anchor


def judge_trajectory(name: str, run: trajectory.Run, models, recorded, anchor,
                     at: list[int]) -> Finding:
    new = trajectory.trajectory(run, at, anchor)
    c = consistency.judge(models, new, recorded)
    what = f"{name}: trajectory"
    if c.identical:
        return Finding(what, "identical", f"bit for bit the baseline's at steps {at}")
    worst = (f"worst at step {at[c.worst_step - 1]} in {trajectory.QUANTITIES[c.worst_quantity]}"
             f" (z = {c.worst_z:.3g}); smallest p = {c.min_p:.3g} against alpha / "
             f"{len(at)} = {c.alpha / len(at):.3g}")
    if c.consistent:
        return Finding(what, "consistent", f"inside the ensemble at every checkpoint; {worst}")
    return Finding(what, "REGRESSION", f"leaves the roundoff ensemble at step "
                   f"{at[c.first_step - 1]}: {worst}", regression=True)


def judge_accuracy(name: str, accuracy: float | None, entry: dict) -> Finding | None:
    """Below the ensemble's band and below the binomial interval of the baseline's accuracy
    on the same number of images: a regression."""
    from scipy.stats import binomtest

    if accuracy is None or entry.get("val_accuracy") is None:
        return None
    n, then = entry["val_images"], entry["val_accuracy"]
    band = entry.get("member_accuracy") or [then]
    low_band = min(band)
    interval = binomtest(round(then * n), n).proportion_ci(
        1 - tolerance("regress.false_alarm"))
    detail = (f"{accuracy:.4f} on {n} images; baseline {then:.4f}, ensemble "
              f"{low_band:.4f} to {max(band):.4f}, binomial interval {interval.low:.4f} to "
              f"{interval.high:.4f}")
    if accuracy < low_band and accuracy < interval.low:
        return Finding(f"{name}: validation accuracy", "REGRESSION", detail, regression=True)
    return Finding(f"{name}: validation accuracy", "consistent", detail)


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
                                 f"{new}{bits(now, key)}", regression=True))
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
                                 regression=True))
        elif old > 0 and new >= drift * old:
            found.append(Finding(f"worst ratio of {key}", "drift",
                                 f"{old:.3g} then, {new:.3g} now: {new / old:.3g} times"))
    if compared and not any(f.what.startswith("worst ratio") for f in found):
        found.append(Finding(f"worst ratios of {compared} checks", "same",
                             f"none outside its bound, none grown {drift:g} times"))
    return found


def judge_speed(then: dict, now: dict, machine_then: dict, machine_now: dict
                ) -> list[Finding]:
    differ = machine.differences(machine_then, machine_now)
    found = []
    for name, samples in then.items():
        if name not in now:
            continue
        if differ:
            v = speed.SpeedVerdict(name, "", "not compared", None, None,
                                   "another machine: " + "; ".join(differ))
        else:
            v = speed.compare(name, "", samples, now[name])
        detail = v.reason if v.status == "not compared" else str(v).split(": ", 1)[1]
        found.append(Finding(f"speed: {name}", v.status, detail,
                             regression=v.status == "slower"))
    return found
