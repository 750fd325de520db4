"""Training flags, presets and defaults, shared by every trainer's command line.

Resolution order: an explicit flag beats the preset, and the preset beats our defaults.
lambda, the L2 weight, is `-r/--reg` on the command line (the course's flag) and `reg`
everywhere in code and in the run record.
"""

from __future__ import annotations

import argparse
from dataclasses import asdict, dataclass, fields, replace

from .cli import nonnegative_float, nonnegative_int, positive_float, positive_int
from .data import MNIST5K, PIXELS
from .params import INITS


@dataclass(frozen=True)
class TrainConfig:
    """One training run's settings, as every trainer takes them."""

    hidden: int
    reg: float
    lr: float
    epochs: int
    batch: int
    data: str = MNIST5K
    pixels: str = "unit"
    init: str = "scaled"
    seed: int = 0
    shuffle: bool = False
    val_fraction: float = 0.1
    print_loss: bool = False
    allow_divergence: bool = False  # keep training through a non-finite loss or parameter

    def as_dict(self) -> dict:
        return asdict(self)


# Chosen on mnist5k by `python benchmarks/choose_defaults.py` (docs/defaults.md).
DEFAULTS = TrainConfig(hidden=512, reg=1e-4, lr=1.0, epochs=40, batch=32)

# The foundation issue's acceptance target for the defaults on mnist5k's validation set.
TARGET_ACCURACY = 0.90

_COURSE = dict(pixels="raw", init="course")
_GRADE = dict(_COURSE, hidden=100, reg=1e-4, batch=800)
PRESETS: dict[str, dict] = {
    "course": dict(_COURSE, hidden=1000, reg=1e-4, lr=0.001, epochs=20, batch=800),
    "grade1": dict(_GRADE, lr=0.0005, epochs=40),
    "grade2": dict(_GRADE, lr=0.001, epochs=10),
    "grade3": dict(_GRADE, lr=0.002, epochs=1, print_loss=True),
}


def add_train_arguments(parser: argparse.ArgumentParser) -> None:
    """The course's flag names, plus ours; every default is None so a preset can fill it."""
    d = DEFAULTS
    add = parser.add_argument
    add("-n", "--hidden", type=positive_int, help=f"hidden neurons H (default {d.hidden})")
    add("-r", "--reg", metavar="LAMBDA", type=nonnegative_float,
        help=f"L2 regularisation lambda (default {d.reg})")
    add("-l", "--lr", type=positive_float, help=f"learning rate (default {d.lr})")
    add("-e", "--epochs", type=positive_int, help=f"epochs (default {d.epochs})")
    add("-b", "--batch", type=positive_int, help=f"batch size (default {d.batch})")
    add("--data", help=f"'{MNIST5K}' (embedded, default) or a directory of MNIST IDX files")
    add("--pixels", choices=PIXELS, help="unit: divide by 255 (default); raw: 0..255 (course)")
    add("--init", choices=INITS, help="scaled: N(0, 1/fan_in) (default); course: 0.01 N(0, 1)")
    add("--seed", type=nonnegative_int, help="seed of split, init and shuffling (0)")
    add("--shuffle", action="store_true", default=None, help="reshuffle the batches each epoch")
    add("--val-fraction", type=positive_float, help="fraction held out for validation (0.1)")
    add("--print-loss", action="store_true", default=None, help="print the loss every iteration")
    add("--preset", choices=sorted(PRESETS), help="the course's runs (SPEC section 2)")
    add("--allow-divergence", action="store_true", default=None,
        help="keep training through a non-finite loss or parameter (default: stop there, "
             "naming the step, with exit code 3)")


def resolve(args: argparse.Namespace) -> TrainConfig:
    """Our defaults, overridden by the preset, overridden by explicit flags."""
    config = replace(DEFAULTS, **PRESETS.get(args.preset, {}))
    explicit = {f.name: getattr(args, f.name) for f in fields(TrainConfig)
                if getattr(args, f.name, None) is not None}
    return replace(config, **explicit)
