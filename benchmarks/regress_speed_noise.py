"""How often `oraclenet regress check` calls honest code slower, and whether it sees the
planted slowdown: `python benchmarks/regress_speed_noise.py [--baselines N]`.

Each subject's speed is measured N times the way a default baseline measures it (regress/
speed.py: 7 samples, each from a fresh process), one after another; then every ordered pair
of those (i as recorded, j as checked) is judged as `regress check` judges it. Honest pairs
give the false alarms; pairs of the outside step (recorded) and its twins with an extra
copy of X per step, contiguous or column by column (checked), give the detections. Beside
it, the old way for the outside step: all 7 samples from one process, which share that
process's own speed. Writes docs/regress-speed.md.
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
from pathlib import Path

from oraclenet.common.files import write_text
from oraclenet.common.report import table
from oraclenet.regress import session, speed
from oraclenet.regress.baseline import REPEATS
from oraclenet.regress.machine import cpu_model

OUTSIDE = "oraclenet.corpus.outside"
STEP = "impl images/s"
SUBJECTS = {  # row: (settings, the speed's name)
    "oracle's trainer": (session.Settings(Path("."), quick=False), "oracle images/s"),
    "numpy GEMM": (session.Settings(Path("."), quick=False), "numpy GEMM GFLOP/s"),
    "outside step": (session.Settings(Path("."), quick=False, impl=f"{OUTSIDE}:step"), STEP),
    "outside step, extra copy of X": (
        session.Settings(Path("."), quick=False, impl=f"{OUTSIDE}:extra_copy_of_X"), STEP),
    "outside step, extra copy of X by columns": (
        session.Settings(Path("."), quick=False,
                         impl=f"{OUTSIDE}:extra_copy_of_X_by_columns"), STEP),
}


def in_processes(settings, name: str) -> speed.Samples:
    """A default baseline's samples: one fresh process each (session._speeds without words)."""
    return speed.Samples.of([session.spawn_sample(settings, name) for _ in range(REPEATS[False])])


def in_one_process(settings, name: str) -> speed.Samples:
    """The old way: every sample from this one process."""
    return speed.Samples.of([session.sample(settings, name) for _ in range(REPEATS[False])])


def judged(then: list, now: list, same: bool) -> list[speed.SpeedVerdict]:
    pairs = itertools.permutations(range(len(then)), 2) if same else itertools.product(
        range(len(then)), range(len(now)))
    return [speed.compare("x", then[i], now[j]) for i, j in pairs]


def rows_for(label: str, measured: dict) -> list[tuple]:
    rows = []
    for name, found in measured.items():
        medians = [statistics.median(s.relative) for s in found]
        every = [r for s in found for r in s.relative]
        planted = "extra copy of X" in name
        verdicts = judged(measured["outside step"], found, False) if planted else judged(
            found, found, True)
        what = "detections" if planted else "false alarms"
        ratios = [v.ratio for v in verdicts]
        slower = sum(v.status == "slower" for v in verdicts)
        rows.append((name, label, f"{max(every) / min(every) - 1:.1%}",
                     f"{max(medians) / min(medians) - 1:.1%}",
                     f"{min(ratios):.3f} to {max(ratios):.3f}",
                     f"{slower} of {len(verdicts)} ({what})"))
        print(*rows[-1], sep="  ", flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baselines", type=int, default=6)
    n = parser.parse_args().baselines
    fresh = {name: [in_processes(*SUBJECTS[name]) for _ in range(n)] for name in SUBJECTS}
    rows = rows_for("a process each", fresh)
    steps = ("outside step", "outside step, extra copy of X")
    rows += rows_for("one process", {name: [in_one_process(*SUBJECTS[name]) for _ in range(n)]
                                     for name in steps})
    text = f"""# Speed judged over repeated baselines

`python benchmarks/regress_speed_noise.py --baselines {n}`, on {cpu_model()}
({os.cpu_count()} cores): each subject's speed measured {n} times as a default baseline
measures it ({REPEATS[False]} samples, each the median of a process's runs relative to the
probe's beside them, on one BLAS thread: regress/speed.py), and every ordered pair of those
judged as `regress check` judges it (a slowdown of 10% or more at p < 0.01 is "slower"). "a
process each" is how a baseline takes its samples; "one process" takes all of them in one
process. A spread is the largest relative rate over the smallest, less one: of the samples
(each a process's, or all from one process) and of the baselines' medians. A pair's ratio is
the Hodges-Lehmann estimate of checked over recorded speed that the check decides on.

{table(("subject", "samples from", "spread of samples", "of baselines", "pairs' ratios",
        "pairs called slower"), rows)}
"""
    write_text(Path(__file__).resolve().parent.parent / "docs" / "regress-speed.md", text)


if __name__ == "__main__":
    main()
