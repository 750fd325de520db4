"""`oraclenet check run DIR`: a whole training run, from any trainer at any rank count, judged
step by step from the directory it dumped (common/dump.py describes the format; every trainer
here writes it with --dump-dir).

Every step is judged free-running: from the parameters the run had reached, the oracle's
step on the same batch, within judge/bounds.py's bounds in the run's dtype (both tiers) and
with its effective bits. So roundoff never compounds, and the first step that goes wrong is
named with its block and index. The batches come in order, the last one partial, epoch after
epoch (SPEC section 1).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..common import schema
from ..common.data import PIXELS, Dataset, load, one_hot
from ..common.dump import DATA_NPZ, RUN_JSON
from ..common.params import Params, read_params
from ..common.shapes import BLOCKS
from ..judge import bounds
from ..judge.diagnose_network import diagnose_network
from .network import read_batch
from .runner import Outcome, judged

# run.json's keys (common/dump.py writes every one).
SCHEMA = {
    "data": schema.text(),
    "batch": schema.integer(1),
    "lr": schema.number(0.0, True),
    "reg": schema.number(0.0, False),
    "dtype": schema.one_of("float32", "float64"),
    "pixels": schema.one_of(*PIXELS, required=False),
    "val_fraction": schema.number(0.0, True, 1.0, True, required=False),
    "seed": schema.integer(0, required=False),
    "hidden": schema.integer(1, required=False),
    "trainer": schema.text(required=False),
}
# A step's parameters: one .npz or .mat file, or a folder of one file per matrix (read_params).
PARAMS = re.compile(r"params-(\d+)(\.npz|\.mat)?$")


@dataclass(frozen=True)
class RunDir:
    """A dumped run: its settings, the training set in the order used, the parameter files
    in step order (0: the start)."""

    directory: Path
    settings: dict
    train: Dataset
    steps: list[Path]

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(self.settings["dtype"])

    def batch_of(self, step: int) -> tuple[int, int]:
        """Columns [start, stop) of the batch that step k (1, 2, ...) trained on."""
        batch, n = int(self.settings["batch"]), len(self.train)
        start = (step - 1) % -(-n // batch) * batch
        return start, min(start + batch, n)


def read_run(directory: Path) -> RunDir:
    """The run in `directory`, or a ValueError naming what is missing or wrong."""
    directory = Path(directory)
    if not directory.is_dir():
        raise ValueError(f"{directory}: not a directory")
    path = directory / RUN_JSON
    try:
        settings = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise ValueError(f"{path}: cannot read the run's settings: {err}") from err
    schema.validate(path, "", settings, SCHEMA)
    found = {}
    for file in sorted(directory.iterdir()):
        m = PARAMS.match(file.name)
        if m:
            step = int(m.group(1))
            if step in found:
                raise ValueError(f"{directory}: two parameter files for step {step}, "
                                 f"{found[step].name} and {file.name}; keep one")
            found[step] = file
    if 0 not in found or len(found) < 2:
        raise ValueError(f"{directory}: needs params-0000 (the start) and at least one step "
                         f"after it; found {len(found)} parameter files")
    gaps = sorted(set(range(max(found) + 1)) - set(found))
    if gaps:
        raise ValueError(f"{directory}: parameter files for steps {gaps[:5]} are missing")
    return RunDir(directory, settings, _training_set(directory, settings),
                  [found[k] for k in range(len(found))])


def _training_set(directory: Path, settings: dict) -> Dataset:
    data = settings["data"]
    if data == DATA_NPZ or str(data).endswith((".npz", ".mat")):
        X, Y = read_batch(directory / data)
        return Dataset(np.ascontiguousarray(X.T), np.argmax(Y, axis=0))
    try:
        split = load(str(data), settings.get("pixels", "unit"),
                     settings.get("val_fraction", 0.1), settings.get("seed", 0))
    except ValueError as err:  # its messages name the --data flag, which this user never gave
        message = str(err).removeprefix(f"--data {data}: ")
        raise ValueError(f"{directory / RUN_JSON}: data {data!r}: {message}") from None
    return split.train


def judge_step(run: RunDir, step: int, before: Params, after: Params) -> Outcome:
    start, stop = run.batch_of(step)
    images = run.train.images[start:stop]
    X = images.T.astype(run.dtype).astype(np.float64)
    Y = one_hot(run.train.labels[start:stop])
    s = run.settings
    p = before.astype(np.float64)
    reg, lr = float(s["reg"]), float(s["lr"])
    verdicts = bounds.compare_step(after, p, X, Y, reg, lr, run.dtype)
    verdicts = list(diagnose_network(verdicts, after, p, X, Y, reg, lr, run.dtype).values())
    n_batches = -(-len(run.train) // int(s["batch"]))
    epoch, t = divmod(step - 1, n_batches)
    return judged(f"step {step} (epoch {epoch + 1}, batch {t + 1})",
                  f"H {after.hidden}, N {stop - start}", verdicts)


def check_run(run: RunDir, say=lambda outcome: None, progress: bool = False
              ) -> list[Outcome]:
    """Every step, free-running; a parameter file that cannot be read ends the check with its
    ValueError (the run is incomplete). progress: a bar on a terminal's stderr."""
    from tqdm import tqdm

    outcomes = []
    before = read_params(run.steps[0])
    hidden = before.hidden
    if run.settings.get("hidden", hidden) != hidden:
        raise ValueError(f"{run.steps[0]}: H = {hidden}, but {run.directory / RUN_JSON} says "
                         f"hidden {run.settings['hidden']}")
    steps = tqdm(enumerate(run.steps[1:], 1), total=len(run.steps) - 1, unit="step",
                 desc="judging", disable=None if progress else True, leave=False)
    for step, path in steps:
        after = read_params(path)
        if after.hidden != hidden:
            raise ValueError(f"{path}: H = {after.hidden}, but the run starts with H = {hidden}")
        outcomes.append(judge_step(run, step, before, after))
        say(outcomes[-1])
        before = after
    return outcomes


def plot_steps(outcomes: list[Outcome], path: Path) -> None:
    """The worst ratio of each block at each step, log scale, with the bound at 1."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..common.files import save_figure

    fig, ax = plt.subplots(figsize=(8, 4))
    steps = np.arange(1, len(outcomes) + 1)
    for name in BLOCKS:
        ratios = [next((v.ratio for v in o.verdicts if v.check.startswith(f"{name} ")), np.nan)
                  for o in outcomes]
        ax.semilogy(steps, np.maximum(ratios, 1e-12), label=name, lw=1)
    ax.axhline(1.0, color="k", lw=0.8)
    ax.set_xlabel("step")
    ax.set_ylabel("worst error / allowed")
    ax.set_title("every step against the oracle's, from the parameters the run reached")
    ax.legend(fontsize=8)
    save_figure(fig, path)
    plt.close(fig)
