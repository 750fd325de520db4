"""Matrices written the way C and C++ programs and MATLAB write them, for the reader tests
(tests/test_readers.py) and the front door's fuzz: our own small writers, byte for byte what
Armadillo's `M.save(name, type)` and MATLAB's `save -v7.3` leave, so that no reader of ours
writes what it is tested on.
"""

from pathlib import Path

import numpy as np

from oraclenet.common.params import Params

# Armadillo's raw_ascii: a blank before every element, each right-aligned in its width, in
# scientific notation (Armadillo 10 and later: 16 digits after the point, width 24; the
# course's float builds print 8, as `%.8e` does).
DIGITS = {np.dtype(np.float64): 16, np.dtype(np.float32): 8}


def raw_ascii(path: Path, M: np.ndarray, digits: int | None = None) -> Path:
    """`M.save(path, arma::raw_ascii)`."""
    digits = DIGITS[M.dtype] if digits is None else digits
    width = digits + 8
    path.write_text("".join("".join(f" {x:>{width}.{digits}e}" for x in row) + "\n"
                            for row in np.atleast_2d(M)))
    return path


def csv_ascii(path: Path, M: np.ndarray) -> Path:
    """`M.save(path, arma::csv_ascii)`: commas, no blanks."""
    path.write_text("".join(",".join(f"{x:.17g}" for x in row) + "\n"
                            for row in np.atleast_2d(M)))
    return path


def arma_ascii(path: Path, M: np.ndarray) -> Path:
    """`M.save(path, arma::arma_ascii)`: a header line and the sizes, then raw_ascii rows."""
    M = np.atleast_2d(M)
    raw_ascii(path, M)
    path.write_text(f"ARMA_MAT_TXT_FN{M.dtype.itemsize:03d}\n{M.shape[0]} {M.shape[1]}\n"
                    + path.read_text())
    return path


def arma_binary(path: Path, M: np.ndarray) -> Path:
    """`M.save(path, arma::arma_binary)`: a header line and the sizes, then the elements
    column by column."""
    M = np.atleast_2d(M)
    path.write_bytes(f"ARMA_MAT_BIN_FN{M.dtype.itemsize:03d}\n{M.shape[0]} {M.shape[1]}\n"
                     .encode() + M.astype(M.dtype.newbyteorder("<")).tobytes(order="F"))
    return path


def npy(path: Path, M: np.ndarray) -> Path:
    """numpy's .npy (as cnpy writes it from C++), under any name."""
    with open(path, "wb") as f:  # numpy would add .npy to the name
        np.save(f, M)
    return path


MATLAB_CLASS = {np.dtype(np.float64): b"double", np.dtype(np.float32): b"single"}
MATLAB_HEADER = (b"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: Mon Jan  5 10:00:00 "
                 b"2026 HDF5 schema 1.00 .").ljust(116) + bytes(8) + b"\x00\x02IM"


def mat_v73(path: Path, variables: dict[str, np.ndarray]) -> Path:
    """`save(path, ..., '-v7.3')`: HDF5 after a 512-byte user block that starts with MATLAB's
    header; each variable a dataset of its column-major elements (so HDF5 sees it
    transposed) with a MATLAB_class attribute."""
    import h5py

    with h5py.File(path, "w", userblock_size=512) as f:
        for name, M in variables.items():
            M = np.asarray(M)
            M = M if M.dtype in MATLAB_CLASS else M.astype(np.float64)  # labels: doubles
            dataset = f.create_dataset(name, data=np.atleast_2d(M).T)
            dataset.attrs["MATLAB_class"] = np.bytes_(MATLAB_CLASS[M.dtype])
    with open(path, "r+b") as f:
        f.write(MATLAB_HEADER)
    return path


# A matrix per file: how the course's C++ code names them (layers from 0: W[0] in the code,
# W0 in its files, SequentialW0-3.mat for iteration 3), and ours.
COURSE = {"W1": "W[0]", "b1": "b[0]", "W2": "W[1]", "b2": "b[1]"}
NAMINGS = {
    "W[0]": COURSE,
    "W0": {b: n.replace("[", "").replace("]", "") for b, n in COURSE.items()},
    "W_0": {b: n.replace("[", "_").replace("]", "") for b, n in COURSE.items()},
    "SequentialW0-3": {b: f"Sequential{n.replace('[', '').replace(']', '')}-3"
                       for b, n in COURSE.items()},
    "W1": {b: b for b in COURSE},
}
OURS = NAMINGS["W1"]


def write_params(folder: Path, p: Params, write=raw_ascii, names=COURSE, suffix=".mat",
                 ) -> list[Path]:
    """p as one file per matrix in folder (made), by `write`; the files."""
    folder.mkdir(parents=True, exist_ok=True)
    return [write(folder / f"{names[name]}{suffix}", block)
            for name, block in p.blocks().items()]
