"""The run record: what every trainer's `--json` holds, built in one place.

    implementation, config, n_train, n_val, val_accuracy, train_loss (every iteration),
    val_accuracy_per_epoch, epoch_seconds, step_seconds, images, images_per_second,
    wall_seconds, and test_accuracy where the data have a test set; a trainer adds its own
    keys (an MPI trainer: strategy, ranks, bytes_per_step_per_rank).
"""

from __future__ import annotations

import time

from .data import Split
from .loop import History


def run_record(implementation: str, config: dict, split: Split, history: History,
               began: float, test_accuracy: float | None = None, **extra) -> dict:
    """The record of a finished run; `began` is its time.perf_counter() at the start."""
    record = {
        "implementation": implementation,
        **extra,
        "config": config,
        "n_train": len(split.train),
        "n_val": len(split.val),
        "val_accuracy": history.val_accuracy_per_epoch[-1],
        **history.as_dict(),
        "wall_seconds": time.perf_counter() - began,
    }
    if test_accuracy is not None:
        record["test_accuracy"] = test_accuracy
    return record


def summary_line(record: dict) -> str:
    """The line a trainer prints at the end."""
    return (f"val_accuracy {record['val_accuracy']:.4f}  final loss "
            f"{record['train_loss'][-1]:.4f}  {record['images_per_second']:,.0f} images/s  "
            f"{record['wall_seconds']:.1f} s  ({record['implementation']})")
