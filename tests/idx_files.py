"""IDX files written by the tests: a small valid directory, and the ways one can be corrupt."""

import struct
from pathlib import Path

import numpy as np

from oraclenet.common.data import write_idx


def idx_dir(tmp: Path, n_train=30, n_test=8, gz=False, seed=0) -> Path:
    rng = np.random.default_rng(seed)
    suffix = ".gz" if gz else ""
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        write_idx(tmp / f"{prefix}-images-idx3-ubyte{suffix}",
                  rng.integers(0, 256, (n, 28, 28), dtype=np.uint8))
        write_idx(tmp / f"{prefix}-labels-idx1-ubyte{suffix}",
                  rng.integers(0, 10, n, dtype=np.uint8))
    return tmp


def corrupt(tmp_path, how):
    idx_dir(tmp_path)
    images = tmp_path / "train-images-idx3-ubyte"
    labels = tmp_path / "train-labels-idx1-ubyte"
    blob = images.read_bytes()
    if how == "magic":
        images.write_bytes(struct.pack(">I", 0x00000802) + blob[4:])
    elif how == "truncated":
        images.write_bytes(blob[:-5])
    elif how == "too long":
        images.write_bytes(blob + b"\0")
    elif how == "short header":
        images.write_bytes(blob[:2])
    elif how == "count mismatch":
        write_idx(labels, np.zeros(29, np.uint8))
    elif how == "bad label":
        write_idx(labels, np.full(30, 10, np.uint8))
    elif how == "bad shape":
        write_idx(images, np.zeros((30, 27, 28), np.uint8))
    elif how == "missing":
        labels.unlink()
    elif how == "bad gzip":
        images.unlink()
        (tmp_path / "train-images-idx3-ubyte.gz").write_bytes(b"not gzip at all")
    return tmp_path
