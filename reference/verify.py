"""The verify report's section on the oracle: trained with the defaults on mnist5k, its
record and its loss and accuracy curves."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..common import config as cfg
from ..common.files import save_figure, write_json
from ..common.report import Say, Section, table, verdict_word
from .train import run_training

TITLE = "The float64 oracle, trained with the defaults on mnist5k"


def _plot_training(record: dict, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    loss = np.array(record["train_loss"])
    per_epoch = len(loss) // len(record["val_accuracy_per_epoch"])
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.semilogy(np.arange(1, len(loss) + 1) / per_epoch, loss, lw=0.4, alpha=0.6,
                label="each iteration")
    epochs = np.arange(1, len(loss) // per_epoch + 1)
    means = loss[:len(epochs) * per_epoch].reshape(len(epochs), per_epoch).mean(axis=1)
    ax.semilogy(epochs, means, "k-o", ms=3, lw=1.2, label="epoch mean")
    ax.legend()
    ax.set_xlabel("epoch")
    ax.set_ylabel("J on the batch (data + L2)")
    ax.set_title("Oracle training loss, every iteration")
    ax.grid(True, alpha=0.3)
    save_figure(fig, out / "loss.png")
    plt.close(fig)

    acc = record["val_accuracy_per_epoch"]
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(range(1, len(acc) + 1), acc, marker="o", ms=3)
    ax.axhline(cfg.TARGET_ACCURACY, color="k", ls="--", lw=0.8,
               label=f"target {cfg.TARGET_ACCURACY}")
    ax.set_xlabel("epoch")
    ax.set_ylabel("validation accuracy")
    ax.set_title("Oracle validation accuracy per epoch (mnist5k, 500 images)")
    ax.grid(True, alpha=0.3)
    ax.legend()
    save_figure(fig, out / "accuracy.png")
    plt.close(fig)


def section(out: Path, say: Say) -> Section:
    """Train with the defaults, write OUT/train.json, loss.png and accuracy.png."""
    config = cfg.DEFAULTS
    say(f"training the oracle: {config.epochs} epochs, H = {config.hidden}")
    record, _ = run_training(config)  # a bar per epoch, as `oraclenet train` shows
    write_json(out / "train.json", record)
    _plot_training(record, out)
    trained = record["val_accuracy"] >= cfg.TARGET_ACCURACY
    body = f"""Verdict: **{verdict_word(trained)}**.

{table(["setting", "value"], config.as_dict().items())}

- validation accuracy: **{record['val_accuracy']:.4f}** (target {cfg.TARGET_ACCURACY}:
  {'met' if trained else 'MISSED'}), on {record['n_val']} held-out images
- training: {record['n_train']} images, {len(record['train_loss'])} iterations,
  {record['images_per_second']:,.0f} images/s, {record['wall_seconds']:.1f} s wall
- record: [train.json](train.json)

![loss](loss.png)

![accuracy](accuracy.png)
"""
    return Section(TITLE, body, trained)
