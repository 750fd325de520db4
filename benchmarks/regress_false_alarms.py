"""The false-alarm rate of `oraclenet regress`'s ensemble consistency test, measured; and the
margin by which the issue's planted regressions fail.

    python benchmarks/regress_false_alarms.py [--reruns 300] [--out docs]

The oracle's default subject (mnist5k, H 16, batch 250, 3 epochs: 54 steps) and its ensemble
of 60 members, as `regress record` builds them. Harmless reruns, each judged as `regress
check` judges a new run:
- fresh members (seeds the ensemble was not built from): honest roundoff by construction;
- real other implementations: the oracle's step on the hidden units and the batch's columns
  in a random order (--reorderings seeds, corpus/outside.py's Reordered); the MPI trainers
  under mpiexec at P = 1..4, both strategies; the oracle's step on the hidden units in
  reverse order; the sigmoid and softmax through logaddexp and the log-softmax.
Planted regressions: the L2 term on b1 as well; the learning rate halved after the first
epoch; and, for the test's resolution, the learning rate scaled by 1 + eps for eps from
1e-15 to 1e-6 (the smallest eps caught says how small a systematic change it sees).
Writes OUT/regress-false-alarms.md and .json.
"""

from __future__ import annotations

import argparse
import functools
import platform
import tempfile
import time
from pathlib import Path

import numpy as np

from oraclenet.common.files import write_json, write_text
from oraclenet.common.params import Params
from oraclenet.corpus.outside import (
    LrHalvedAfter,
    Reordered,
    l2_on_b1,
    reversed_hidden_rows,
    step,
)
from oraclenet.judge.tolerances import tolerance
from oraclenet.regress import consistency, subjects, trajectory
from oraclenet.regress.baseline import judge_accuracy
from oraclenet.regress.machine import fingerprint

MEMBERS = 60


def logaddexp(W1, b1, W2, b2, X, Y, lr, reg):
    p = Params(W1.copy(), b1.copy(), W2.copy(), b2.copy())
    trajectory.Variant("logaddexp", True, 1).step(p, X, Y, reg, lr)
    return tuple(p.blocks().values())


def _lr_scaled(factor, W1, b1, W2, b2, X, Y, lr, reg):
    return step(W1, b1, W2, b2, X, Y, lr * factor, reg)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reruns", type=int, default=300, help="fresh members judged (300)")
    parser.add_argument("--reorderings", type=int, default=200,
                        help="random orders of the hidden units and batch columns (200)")
    parser.add_argument("--out", type=Path, default=Path("docs"))
    args = parser.parse_args()
    began = time.perf_counter()
    alpha = tolerance("regress.false_alarm")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        run = trajectory.read(subjects.oracle(work, quick=False).directory)
        at = trajectory.checkpoints(run.steps)
        anchor = trajectory.anchors(run, at)
        ensemble = trajectory.ensemble(run, MEMBERS, at, anchor)
        models = consistency.fit(ensemble.quantities)
        val = subjects.mnist5k().val
        then = trajectory.predictions(run.params[-1], val)
        band = [trajectory.val_accuracy(p, val) for p in ensemble.finals]
        accuracy_alarms = []

        def judge(new: trajectory.Run) -> consistency.Consistency:
            """The trajectory's verdict; the accuracy's false alarms are counted apart."""
            found = judge_accuracy("rerun", new, val, then, band)
            accuracy_alarms.append(found.regression)
            return consistency.judge(models, trajectory.trajectory(new, at, anchor))

        def driven(step) -> trajectory.Run:
            return trajectory.drive(step, run.params[0], run.train, run.batch, run.lr, run.reg,
                                    run.steps, np.float64)

        fresh = [consistency.judge(models, trajectory.member(run, 10_000 + i, at, anchor)
                                   .quantities)
                 for i in range(args.reruns)]
        reordered = [judge(driven(Reordered(seed))) for seed in range(args.reorderings)]
        real = {}
        for ranks in (1, 2, 3, 4):
            for strategy in ("data", "model"):
                made = subjects.mpi(work / f"{strategy}{ranks}", False, strategy, ranks)
                real[f"mpi train --strategy {strategy}, P = {ranks}"] = judge(
                    trajectory.read(made.directory))
        real["hidden units in reverse order"] = judge(driven(reversed_hidden_rows))
        real["sigmoid through logaddexp, log-softmax"] = judge(driven(logaddexp))
        harmless_accuracy_alarms = sum(accuracy_alarms)
        batches = -(-len(run.train) // run.batch)
        planted = {"L2 term on b1 as well": judge(driven(l2_on_b1)),
                   "learning rate halved after the first epoch": judge(driven(
                       LrHalvedAfter(batches)))}
        scaled = {eps: judge(driven(functools.partial(_lr_scaled, 1 + eps)))
                  for eps in 10.0 ** np.arange(-15, -5)}
    alarms = sum(not c.consistent for c in fresh)
    real_alarms = sum(not c.consistent for c in real.values())
    reordered_alarms = sum(not c.consistent for c in reordered)
    seconds = time.perf_counter() - began
    fp = fingerprint()
    machine = f"{fp['cores']}-core {fp['cpu']} ({platform.machine()})"
    rows = [f"| {name} | {'consistent' if c.consistent else 'FALSE ALARM'} | {c.min_p:.3g} |"
            for name, c in real.items()]
    caught = [f"| {name} | {'caught' if not c.consistent else 'MISSED'} | {c.min_p:.3g} | "
              f"step {at[c.first_step - 1] if c.first_step else '-'} |"
              for name, c in planted.items()]
    text = f"""# The ensemble consistency test's false-alarm rate

Made by `python benchmarks/regress_false_alarms.py --reruns {args.reruns} --reorderings
{args.reorderings}` in {seconds:.0f} s on
a {machine}. The oracle's default subject of
`oraclenet regress` (mnist5k, H 16, batch 250, 3 epochs: {run.steps} steps, checkpoints
{at}), an ensemble of {MEMBERS} members; stated false-alarm rate alpha = {alpha:g}
(`[regress] false_alarm`), each checkpoint tested at alpha / {len(at)}.

**Fresh members** (honest roundoff by construction, seeds the ensemble was not built from):
false alarms in {alarms} of {args.reruns} reruns, a rate of {alarms / args.reruns:.4f}
(stated: at most {alpha:g}); median smallest p {np.median([c.min_p for c in fresh]):.3g}.

**Random reorderings** (the oracle's step on the hidden units and on the batch's columns in a
random order, one order per run, seeds 0 to {args.reorderings - 1}: real harmless changes
of every sum's order): false alarms in {reordered_alarms} of {args.reorderings}; smallest p
over them {min(c.min_p for c in reordered):.3g}, median {np.median([c.min_p for c in
reordered]):.3g}.

**Validation accuracy** (image by image against the baseline's predictions, the same 500
images): false alarms in {harmless_accuracy_alarms} of the {args.reorderings + len(real)} real
harmless reruns above and below.

**Other honest implementations**: false alarms in {real_alarms} of {len(real)}. They sit deep
inside the ensemble (p near 1): its members carry `[regress] member_roundings` roundings per
step, more than these implementations differ by, so a change smaller than that per step
would pass too. That is the price of covering every honest formula and summation order; the
resolution below measures it.

| rerun | verdict | smallest p |
|---|---|---|
{chr(10).join(rows)}

**Resolution**: the learning rate scaled by 1 + eps, a systematic change of eps per step.
Caught from eps = {min((e for e, c in scaled.items() if not c.consistent), default=None)}:

| eps | verdict | smallest p |
|---|---|---|
{chr(10).join(f"| {e:.0e} | {'caught' if not c.consistent else 'passes'} | {c.min_p:.3g} |"
              for e, c in scaled.items())}

**Planted regressions**:

| change | verdict | smallest p | first checkpoint out |
|---|---|---|---|
{chr(10).join(caught)}
"""
    write_text(args.out / "regress-false-alarms.md", text)
    write_json(args.out / "regress-false-alarms.json", {
        "reruns": args.reruns, "false_alarms": alarms, "alpha": alpha, "seconds": seconds,
        "fresh_min_p": [c.min_p for c in fresh], "reorderings": args.reorderings,
        "reordered_false_alarms": reordered_alarms,
        "reordered_min_p": [c.min_p for c in reordered],
        "harmless_accuracy_false_alarms": harmless_accuracy_alarms,
        "real": {k: {"consistent": c.consistent, "min_p": c.min_p} for k, c in real.items()},
        "scaled_lr": {f"{e:.0e}": {"consistent": c.consistent, "min_p": c.min_p}
                      for e, c in scaled.items()},
        "planted": {k: {"consistent": c.consistent, "min_p": c.min_p,
                        "first_step": c.first_step} for k, c in planted.items()}})
    print(text)


if __name__ == "__main__":
    main()
