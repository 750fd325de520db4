"""Data: the embedded digits and their split, real IDX files, corrupt ones, synthetic data."""

import csv
import gzip
import hashlib
import os
from pathlib import Path

import numpy as np
import pytest

from oraclenet.common import data
from oraclenet.common.data import DataError
from tests.idx_files import corrupt, idx_arrays, idx_dir

FASHION = Path("/usr/share/datasets/fashion-mnist")
# CI installs Debian's dataset-fashion-mnist and sets this, so the test cannot skip there.
fashion_required = os.environ.get("ORACLENET_REQUIRE_FASHION") == "1"


# --- mnist5k ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def mnist5k():
    return data.load_mnist5k("unit", 0.1, 0)


def test_mnist5k_split_is_4500_500_and_stratified(mnist5k):
    assert len(mnist5k.train) == 4500 and len(mnist5k.val) == 500
    assert np.bincount(mnist5k.val.labels, minlength=10).tolist() == [50] * 10
    assert np.bincount(mnist5k.train.labels, minlength=10).tolist() == [450] * 10
    assert mnist5k.train.images.shape == (4500, 784)
    assert mnist5k.train.images.dtype == np.float64
    assert 0.0 <= mnist5k.train.images.min() and mnist5k.train.images.max() == 1.0
    # the stored order is shuffled: no run of one label through a whole batch
    assert len(set(mnist5k.train.labels[:50].tolist())) == 10


def test_mnist5k_split_is_the_same_everywhere_for_a_seed(mnist5k):
    """A fingerprint of seed 0's split, recorded once: a change of RNG, of the split code or of
    the data would change it, and with it every result in the docs."""
    again = data.load_mnist5k("unit", 0.1, 0)
    assert np.array_equal(again.val.images, mnist5k.val.images)
    digest = hashlib.sha256(mnist5k.val.labels.tobytes() + mnist5k.train.labels.tobytes()
                            + (mnist5k.val.images * 255).astype(np.uint8).tobytes()).hexdigest()
    assert digest[:16] == "9605b035b0edd71f"
    other = data.load_mnist5k("unit", 0.1, 1)
    assert not np.array_equal(other.val.labels, mnist5k.val.labels)


def test_mnist5k_fraction_and_pixels():
    s = data.load_mnist5k("raw", 0.2, 3)
    assert len(s.val) == 1000 and s.train.images.max() == 255.0
    with pytest.raises(DataError, match="--val-fraction"):
        data.load_mnist5k("unit", 1.5, 0)
    with pytest.raises(DataError, match="--pixels"):
        data.scale_pixels(np.zeros((1, 784), np.uint8), "bytes")


def test_batches_are_column_views_with_one_hot_labels(mnist5k):
    X, Y = mnist5k.train.batch(4490, 4510)
    assert X.shape == (784, 10) and Y.shape == (10, 10)  # the last partial batch
    assert np.shares_memory(X, mnist5k.train.images)
    assert np.array_equal(Y.argmax(axis=0), mnist5k.train.labels[4490:])
    assert Y.sum() == 10


# --- IDX --------------------------------------------------------------------------------------

@pytest.mark.parametrize("gz", [False, True])
def test_idx_directory_plain_and_gzip(tmp_path, gz):
    s = data.load_idx_dir(idx_dir(tmp_path, gz=gz), "raw", 0.1)
    assert len(s.train) == 27 and len(s.val) == 3 and len(s.test) == 8
    raw = data.read_idx(tmp_path / f"train-images-idx3-ubyte{'.gz' if gz else ''}")
    assert np.array_equal(s.val.images, raw[27:].reshape(3, 784).astype(float))


def source_images(values: np.ndarray, pixels: str) -> np.ndarray:
    """count x 28 x 28 bytes as the loader's rows: one image per row, row-major pixels; 'unit'
    divides by 255, 'raw' keeps 0..255 (the --pixels flag's documented meaning)."""
    rows = values.reshape(len(values), 28 * 28).astype(np.float64)
    return rows / 255.0 if pixels == "unit" else rows


@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize("pixels", ["unit", "raw"])
@pytest.mark.parametrize(("n_train", "val_fraction", "n_val"), [(30, 0.1, 3), (40, 0.25, 10),
                                                                (9, 0.5, 4)])
def test_every_split_of_an_idx_directory_holds_its_files_values(tmp_path, gz, pixels,
                                                                n_train, val_fraction, n_val):
    """Training, validation and test sets, images and labels, against the values the test
    wrote (tests/idx_files.py writes the files from the format itself): validation is the last
    n_val images of the training file, in order (round(0.5 * 9) = 4, half to even)."""
    source = idx_arrays(n_train, 8, seed=5)
    s = data.load_idx_dir(idx_dir(tmp_path, n_train=n_train, n_test=8, gz=gz, seed=5), pixels,
                          val_fraction)
    cut = n_train - n_val
    expected = {"train": (source["train-images"][:cut], source["train-labels"][:cut]),
                "val": (source["train-images"][cut:], source["train-labels"][cut:]),
                "test": (source["t10k-images"], source["t10k-labels"])}
    for name, (images, labels) in expected.items():
        split = getattr(s, name)
        assert split.images.dtype == np.float64 and split.labels.dtype == np.int64, name
        np.testing.assert_array_equal(split.images, source_images(images, pixels), err_msg=name)
        np.testing.assert_array_equal(split.labels, labels.astype(np.int64), err_msg=name)
        X, Y = split.batch(0, len(labels))
        np.testing.assert_array_equal(X, source_images(images, pixels).T, err_msg=name)
        np.testing.assert_array_equal(Y, np.eye(10)[labels].T, err_msg=name)


def mnist5k_source() -> np.ndarray:
    """The embedded CSV read here with the standard library: 5,000 rows of 784 pixels and
    the label."""
    with gzip.open(data.mnist5k_path(), "rt") as f:
        return np.array([[int(v) for v in row] for row in csv.reader(f)], dtype=np.int64)


def as_rows(images: np.ndarray, labels: np.ndarray) -> list[bytes]:
    """Each image with its label as one sortable record."""
    table = np.column_stack([images.astype(np.int64), labels.astype(np.int64)])
    return sorted(row.tobytes() for row in table)


@pytest.mark.parametrize(("val_fraction", "seed", "val_per_class"), [(0.1, 0, 50), (0.2, 3, 100)])
def test_the_mnist5k_splits_are_a_partition_of_the_source_rows(val_fraction, seed,
                                                               val_per_class):
    """Every image of the training and validation sets, with its label, is a row of the
    source, and together they are every row once; each class gives val_fraction of its
    images to validation (500 per class: 50 or 100)."""
    source = mnist5k_source()
    s = data.load_mnist5k("raw", val_fraction, seed)
    assert as_rows(np.concatenate([s.train.images, s.val.images]),
                   np.concatenate([s.train.labels, s.val.labels])) == as_rows(
        source[:, :784], source[:, 784])
    per_class = np.bincount(source[:, 784], minlength=10)
    assert per_class.tolist() == [500] * 10
    assert np.bincount(s.val.labels, minlength=10).tolist() == [val_per_class] * 10
    unit = data.load_mnist5k("unit", val_fraction, seed)
    np.testing.assert_array_equal(unit.val.images, s.val.images / 255.0)
    np.testing.assert_array_equal(unit.val.labels, s.val.labels)


def test_idx_test_pair_is_optional(tmp_path):
    idx_dir(tmp_path)
    for name in ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        (tmp_path / name).unlink()
    assert data.load_idx_dir(tmp_path).test is None


@pytest.mark.skipif(not FASHION.is_dir() and not fashion_required,
                    reason="Debian's dataset-fashion-mnist is not installed")
def test_reads_the_real_fashion_mnist_files():
    s = data.load_idx_dir(FASHION, "unit", 0.1)
    assert (len(s.train), len(s.val), len(s.test)) == (54000, 6000, 10000)
    assert np.bincount(np.concatenate([s.train.labels, s.val.labels])).tolist() == [6000] * 10
    assert np.bincount(s.test.labels).tolist() == [1000] * 10
    assert s.train.images.max() == 1.0 and s.train.images.min() == 0.0


@pytest.mark.parametrize(("how", "message"), [
    ("magic", r"train-images-idx3-ubyte: magic number 0x00000802, expected 0x00000803"),
    ("truncated", r"train-images-idx3-ubyte: header says dimensions \(30, 28, 28\).*23531"),
    ("too long", r"train-images-idx3-ubyte: header says .* holds 23537"),
    ("short header", r"train-images-idx3-ubyte: 2 bytes is too short"),
    ("count mismatch", r"holds 30 images but .*train-labels-idx1-ubyte holds 29 labels"),
    ("bad label", r"train-labels-idx1-ubyte: labels must lie in 0..9"),
    ("bad shape", r"train-images-idx3-ubyte: expected count x 28 x 28 images"),
    ("missing", r"missing train-labels-idx1-ubyte \(or train-labels-idx1-ubyte.gz\)"),
    ("bad gzip", r"train-images-idx3-ubyte.gz: cannot read"),
])
def test_corrupt_idx_files_are_named(tmp_path, how, message):
    with pytest.raises(DataError, match=message):
        data.load_idx_dir(corrupt(tmp_path, how))


def test_missing_directory_is_named(tmp_path):
    with pytest.raises(DataError, match=r"--data .*nowhere: no such directory"):
        data.load(str(tmp_path / "nowhere"))


# --- synthetic ---------------------------------------------------------------------------------

def test_synthetic_is_seeded_and_shaped():
    a, b, c = data.synthetic(50, 7), data.synthetic(50, 7), data.synthetic(50, 8)
    assert a.images.shape == (50, 784) and a.labels.shape == (50,)
    assert np.array_equal(a.images, b.images) and np.array_equal(a.labels, b.labels)
    assert not np.array_equal(a.images, c.images)
    assert 0 <= a.images.min() and a.images.max() <= 1
    with pytest.raises(DataError, match="n=0"):
        data.synthetic(0)
