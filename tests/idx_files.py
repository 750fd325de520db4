"""IDX files written by the tests: a small valid directory, and the ways one can be corrupt.

The directory is written here from the IDX format itself (big-endian magic 0x0000080n, n
big-endian dimensions, the bytes row by row), not by the package's writer, so that the
values a loader returns can be compared with the values the files hold."""

import gzip
import struct
from pathlib import Path

import numpy as np

from oraclenet.common.data import write_idx

__all__ = ["corrupt", "idx_arrays", "idx_bytes", "idx_dir", "write_idx"]


def idx_bytes(array: np.ndarray) -> bytes:
    """One IDX file of unsigned bytes: 0x00 0x00 0x08 (ubyte) ndim, each dimension as a
    big-endian 32-bit count, then the values in C order."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(
        int(d).to_bytes(4, "big") for d in array.shape)
    return header + array.tobytes(order="C")


def idx_arrays(n_train=30, n_test=8, seed=0) -> dict[str, np.ndarray]:
    """The values idx_dir writes, by file prefix and kind: 'train-images' (n x 28 x 28
    uint8), 'train-labels', 't10k-images', 't10k-labels'."""
    rng = np.random.default_rng(seed)
    found = {}
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        found[f"{prefix}-images"] = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        found[f"{prefix}-labels"] = rng.integers(0, 10, n, dtype=np.uint8)
    return found


def idx_dir(tmp: Path, n_train=30, n_test=8, gz=False, seed=0) -> Path:
    suffix = ".gz" if gz else ""
    for name, values in idx_arrays(n_train, n_test, seed).items():
        prefix, kind = name.split("-")
        path = tmp / f"{prefix}-{kind}-idx{3 if kind == 'images' else 1}-ubyte{suffix}"
        path.write_bytes(gzip.compress(idx_bytes(values), mtime=0) if gz
                         else idx_bytes(values))
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
