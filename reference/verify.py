"""`python -m reference verify`: the main job. Trains the oracle with the defaults on the
embedded data, gradient-checks it, and writes reports/verify/index.md with its plots."""

from __future__ import annotations

import argparse
import platform
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from reference import config as cfg
from reference import gradcheck
from reference.cli import run_training
from reference.files import save_figure, write_json, write_text


def set_section(index: Path, heading: str, section: str) -> None:
    """Put `section` (starting with `heading`, a level-2 heading) into index.md in place of
    that heading's old section, or at the end; whole or not at all."""
    text = index.read_text()
    parts = re.split(r"(?m)^(?=## )", text)
    kept = [p for p in parts if not p.startswith(heading)]
    at = next((i for i, p in enumerate(parts) if p.startswith(heading)), len(parts))
    kept.insert(min(at, len(kept)), section.strip() + "\n\n")
    write_text(index, "".join(kept).rstrip() + "\n")


def section_index(prog: str, description: str, argv: list[str] | None) -> Path | None:
    """Parse a section command's --out; OUT/index.md, or None (said on stderr) when
    `python -m reference verify` has not written it yet."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--out", type=Path, default=Path("reports/verify"))
    out = parser.parse_args(argv).out
    if not (out / "index.md").is_file():
        print(f"{out / 'index.md'}: run `python -m reference verify --out {out}` first",
              file=sys.stderr)
        return None
    return out / "index.md"


def run_pytest(command: list[str], env: dict, cwd: Path, timeout: float
               ) -> tuple[bool, str, str]:
    """(passed, pytest's summary line, its output) of a pytest run started by command."""
    out = subprocess.run(command, capture_output=True, text=True, env=env, cwd=cwd,
                         timeout=timeout)
    summary = re.findall(r"\d+ (?:passed|failed|skipped|error)[^\n]*", out.stdout)
    return (out.returncode == 0, summary[-1].strip("= ") if summary else out.stderr[-300:],
            out.stdout)


def pytest_command(*args: str, quiet: bool = True) -> list[str]:
    """python -m pytest args (quiet: without the header that conftests add to)."""
    return [sys.executable, "-m", "pytest", *(["-q"] if quiet else []), "-p",
            "no:cacheprovider", *args]


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


def run_verify(args: argparse.Namespace) -> int:
    out: Path = args.out
    config = cfg.DEFAULTS
    print("1/2 training the oracle with the defaults on mnist5k")
    record, _ = run_training(config)
    write_json(out / "train.json", record)
    _plot_training(record, out)
    trained = record["val_accuracy"] >= cfg.TARGET_ACCURACY

    print("2/2 gradient check")
    gc_args = argparse.Namespace(hidden=8, batch=16, reg=1e-2, seed=0, data=config.data,
                                 max_entries=20000, report=out / "gradcheck")
    p, X, Y = gradcheck.check_problem(gc_args.hidden, gc_args.batch, gc_args.reg, 0)
    report = gradcheck.check(p, X, Y, gc_args.reg, max_entries=gc_args.max_entries)
    gradcheck.write_report(report, gc_args.report)

    passed = trained and report.passed
    rows = "\n".join(f"| {k} | {v} |" for k, v in config.as_dict().items())
    sweeps = "\n".join(
        f"| {w.block} | {w.best_h:.0e} | {w.best_error:.2e} | "
        f"{'n/a' if w.slope is None else f'{w.slope:.2f}'} | {'pass' if w.passed else 'FAIL'} |"
        for w in [*report.sweeps, report.whole])
    failed_entries = [e for e in report.entries if not e.passed]
    text = f"""# oraclenet verify

Verdict: **{'PASS' if passed else 'FAIL'}**

Made by `nox -s verify` (`python -m reference verify`) on {platform.node()} ({platform.machine()},
Python {platform.python_version()}, numpy {np.__version__}), {datetime.now(UTC):%Y-%m-%d %H:%M} UTC.

## 1. The float64 oracle, trained with the defaults on mnist5k

| setting | value |
|---|---|
{rows}

- validation accuracy: **{record['val_accuracy']:.4f}** (target {cfg.TARGET_ACCURACY}:
  {'met' if trained else 'MISSED'}), on {record['n_val']} held-out images
- training: {record['n_train']} images, {len(record['train_loss'])} iterations,
  {record['images_per_second']:,.0f} images/s, {record['wall_seconds']:.1f} s wall
- record: [train.json](train.json)

![loss](loss.png)

![accuracy](accuracy.png)

## 2. Gradient check of the oracle's backpropagation

Verdict: **{'PASS' if report.passed else 'FAIL'}**. Central differences on every entry of
W1, b1, W2, b2 (784 -> {gc_args.hidden} -> 10, batch {gc_args.batch}, lambda {gc_args.reg}),
for the total loss, its data term and its L2 term:
{len(report.entries) - len(failed_entries)} of {len(report.entries)} block/term checks pass.
Full report: [gradcheck/report.md](gradcheck/report.md).

| direction | best h | relative error there | truncation slope | verdict |
|---|---|---|---|---|
{sweeps}

![V-curve](gradcheck/gradcheck.png)
"""
    write_text(out / "index.md", text)
    print(f"{'PASS' if passed else 'FAIL'}: report written to {out / 'index.md'}")
    return 0 if passed else 1
