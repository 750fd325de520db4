"""Matrices from the files another program wrote: what `oraclenet check` reads.

    .npy                 one array (numpy), memory-mapped
    .npz                 one array, or the one named
    .mat                 MATLAB v4-v7.2 (scipy.io): one variable, or the one named
    arma_binary          Armadillo's `save(name, arma_binary)`: a header line
                         ARMA_MAT_BIN_FN008 (float64) or ..._FN004 (float32), a line
                         `n_rows n_cols`, then the elements column by column (little-endian)
    arma_ascii           Armadillo's default text format: ARMA_MAT_TXT_FN008 and the same
                         size line, then one row per line
    raw_ascii            numbers separated by blanks, one row per line (no header)
    csv_ascii            the same with commas (a .csv file)
    raw binary           little-endian float32 or float64 with its shape and order given
                         (RawLayout), as `fwrite` or `ofstream::write` leave it

Which format a file is comes from its content (the Armadillo headers, numpy's and MATLAB's
magic) and then its suffix; text without a header is raw_ascii, or csv_ascii for .csv.
Every way a file can be wrong is a ValueError that names the file: unreadable, truncated or
too long for its header, not 2-D, not real, not finite where finiteness is asked, or larger
than the memory available.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .memory import ResourceError, check_fits

ARMA_BINARY = re.compile(rb"ARMA_MAT_BIN_(FN|IS|IU)0*(\d+)")
ARMA_TEXT = re.compile(rb"ARMA_MAT_TXT_(FN|IS|IU)0*(\d+)")
FLOATS = {4: np.dtype("<f4"), 8: np.dtype("<f8")}
RAW_DTYPES = {"float32": np.dtype("<f4"), "float64": np.dtype("<f8")}
HEADER_MAX = 200  # bytes: an Armadillo header is two short lines


@dataclass(frozen=True)
class RawLayout:
    """How a headerless binary file is laid out: element type, (rows, cols), C or F order."""

    dtype: str
    shape: tuple[int, int]
    order: str = "C"

    def __post_init__(self):
        if self.dtype not in RAW_DTYPES:
            raise ValueError(f"--raw must be one of {', '.join(RAW_DTYPES)}, got {self.dtype!r}")
        if len(self.shape) != 2 or min(self.shape) < 0:
            raise ValueError(f"--shape must be two sizes M,N >= 0, got {self.shape}")
        if self.order not in ("C", "F"):
            raise ValueError(f"--order must be C or F, got {self.order!r}")


def read_matrix(path: Path | str, raw: RawLayout | None = None, name: str | None = None,
                vector: bool = False) -> np.ndarray:
    """The 2-D real matrix in `path` (float32 or float64, as the file holds it; text is read
    as float64). `raw` reads a headerless binary file; `name` picks an array of an .npz or a
    variable of a .mat holding several; `vector` accepts a 1-D array too (labels)."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if not path.is_file():
            raise ValueError(f"{path}: not a regular file")
        if raw is not None:
            matrix = _read_raw(path, raw, size)
        else:
            with open(path, "rb") as f:
                head = f.read(HEADER_MAX)
            matrix = _read_by_kind(path, head, size, name)
    except Exception as err:  # an untrusted file: the decoders raise many kinds
        if isinstance(err, ResourceError):
            raise
        message = str(err)
        raise ValueError(message if message.startswith(str(path))
                         else f"{path}: cannot read a matrix: {message}") from err
    return _checked(path, matrix, vector)


def _read_by_kind(path: Path, head: bytes, size: int, name: str | None) -> np.ndarray:
    if ARMA_BINARY.match(head):
        return _read_arma_binary(path, head, size)
    if ARMA_TEXT.match(head):
        return _read_arma_text(path, head)
    if head.startswith(b"\x93NUMPY") or head.startswith(b"PK"):
        return _read_numpy(path, name)
    if path.suffix.lower() == ".mat" or head.startswith(b"MATLAB"):
        return _read_mat(path, name)
    if not _text_like(head):
        raise ValueError(f"{path}: binary, but neither .npy, .npz, .mat nor arma_binary; "
                         "for raw binary give --raw float32|float64 --shape M,N")
    return _read_text(path, "," if path.suffix.lower() == ".csv" else None)


def _text_like(head: bytes) -> bool:
    """Whether a file's first bytes can be numbers written as text (ASCII, no control
    characters but blanks): a float array written raw almost never is."""
    try:
        text = head.decode("ascii")
    except UnicodeDecodeError:
        return False
    return all(c.isprintable() or c in "\t\n\r\f\v" for c in text)


def _header(path: Path, head: bytes, pattern: re.Pattern) -> tuple[str, int, int, int, int]:
    """(kind, element bytes, rows, cols, offset of the data) of an Armadillo file."""
    lines = head.split(b"\n", 2)
    if len(lines) < 3:
        raise ValueError(f"{path}: Armadillo header cut short")
    kind, width = pattern.match(lines[0]).groups()
    try:
        rows, cols = (int(x) for x in lines[1].split())
    except ValueError as err:
        raise ValueError(f"{path}: Armadillo size line {lines[1][:40]!r} is not two "
                         "integers") from err
    return kind.decode(), int(width), rows, cols, len(lines[0]) + len(lines[1]) + 2


def _read_arma_binary(path: Path, head: bytes, size: int) -> np.ndarray:
    kind, width, rows, cols, offset = _header(path, head, ARMA_BINARY)
    if kind != "FN" or width not in FLOATS:
        raise ValueError(f"{path}: arma_binary of {kind}{width:03d} elements; oraclenet "
                         "reads real matrices (FN004 float32, FN008 float64)")
    expected = rows * cols * width
    if size - offset != expected:
        raise ValueError(f"{path}: arma_binary {rows} x {cols} of {width}-byte floats needs "
                         f"{expected} bytes of data, the file has {size - offset}")
    check_fits(expected, str(path))
    data = np.fromfile(path, dtype=FLOATS[width], offset=offset)
    return data.reshape((rows, cols), order="F")


def _read_arma_text(path: Path, head: bytes) -> np.ndarray:
    _, _, rows, cols, _ = _header(path, head, ARMA_TEXT)
    matrix = _read_text(path, None, skip=2)
    if rows * cols == 0:
        matrix = np.zeros((rows, cols))
    if matrix.shape != (rows, cols):
        raise ValueError(f"{path}: arma_ascii header says {rows} x {cols}, the file holds "
                         f"{matrix.shape[0]} x {matrix.shape[1]}")
    return matrix


def _read_text(path: Path, delimiter: str | None, skip: int = 0) -> np.ndarray:
    check_fits(8 * path.stat().st_size, str(path))  # never more numbers than characters
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # an empty file: 0 x 0, said below
        return np.loadtxt(path, delimiter=delimiter, ndmin=2, skiprows=skip, dtype=np.float64)


def _read_numpy(path: Path, name: str | None) -> np.ndarray:
    with open(path, "rb") as handle:
        npy = handle.read(6) == b"\x93NUMPY"
    if npy:  # memory-mapped: a matrix larger than the memory is read as it is used
        return np.load(path, mmap_mode="r", allow_pickle=False)
    check_fits(path.stat().st_size, str(path))
    with open(path, "rb") as handle:  # our own handle: numpy leaks its own on a corrupt zip
        loaded = np.load(handle, allow_pickle=False)
        if not isinstance(loaded, np.lib.npyio.NpzFile):
            return loaded
        with loaded as archive:
            return np.asarray(archive[_pick(path, archive.files, name)])


MAT_TIMEOUT = 120.0  # seconds for scipy.io to read one .mat file


def _load_mat_child(path: Path, conn) -> None:
    import faulthandler

    import scipy.io

    faulthandler.disable()  # a crash here is reported by the parent, in one line

    try:
        variables = scipy.io.loadmat(path)
        conn.send(("ok", {k: np.asarray(v) for k, v in variables.items()
                          if not k.startswith("__")}))
    except NotImplementedError:  # v7.3 files are HDF5
        conn.send(("error", "MATLAB v7.3 (HDF5) files are not read; save with -v7 or -v6"))
    except Exception as err:  # an untrusted file: scipy's decoders raise many kinds
        conn.send(("error", f"not a readable .mat file: {type(err).__name__}: {err}"))
    conn.close()


def load_mat(path: Path) -> dict[str, np.ndarray]:
    """The variables of a .mat file, read by scipy.io in a child process: on some corrupt
    files scipy's decoder crashes its process (a segmentation fault, found by
    tests/test_fuzz.py), which must end as a ValueError naming the file, not as ours."""
    import multiprocessing

    path = Path(path)
    check_fits(path.stat().st_size, str(path))
    parent, child_end = multiprocessing.get_context("fork").Pipe(duplex=False)
    child = multiprocessing.get_context("fork").Process(target=_load_mat_child,
                                                         args=(path, child_end), daemon=True)
    child.start()
    child_end.close()
    try:
        if not parent.poll(MAT_TIMEOUT):
            raise ValueError(f"{path}: scipy.io read no .mat file in {MAT_TIMEOUT:g} s")
        status, value = parent.recv()
    except (EOFError, OSError):
        child.join()
        raise ValueError(f"{path}: not a readable .mat file (scipy.io's reader crashed on "
                         f"it: exit code {child.exitcode})") from None
    finally:
        parent.close()
        if child.is_alive():
            child.kill()
        child.join()
    if status != "ok":
        raise ValueError(f"{path}: {value}")
    return value


def _read_mat(path: Path, name: str | None) -> np.ndarray:
    variables = load_mat(path)
    return variables[_pick(path, list(variables), name)]


def _pick(path: Path, names: list[str], name: str | None) -> str:
    if name is not None:
        if name not in names:
            raise ValueError(f"{path}: no array named {name!r} (it holds "
                             f"{', '.join(names) or 'none'})")
        return name
    if len(names) != 1:
        example = f"{path}:{names[0]}" if names else ""
        raise ValueError(f"{path}: holds {len(names)} arrays ({', '.join(names)}); name the "
                         f"one to read as FILE:NAME" + (f" (e.g. {example})" if names else ""))
    return names[0]


def named(text: str) -> tuple[Path, str | None]:
    """FILE or FILE:NAME, as a flag gives it: (the file, the array or variable to read in it,
    or None). A path that exists is a FILE, colons and all."""
    path = Path(text)
    head, sep, name = text.rpartition(":")
    if path.exists() or not sep or not head or not name or not Path(head).is_file():
        return path, None
    return Path(head), name


def _read_raw(path: Path, raw: RawLayout, size: int) -> np.ndarray:
    dtype = RAW_DTYPES[raw.dtype]
    rows, cols = raw.shape
    expected = rows * cols * dtype.itemsize
    if size != expected:
        raise ValueError(f"{path}: {rows} x {cols} {raw.dtype} needs {expected} bytes, the "
                         f"file has {size}")
    check_fits(expected, str(path))
    return np.fromfile(path, dtype=dtype).reshape((rows, cols), order=raw.order)


def _checked(path: Path, matrix: np.ndarray, vector: bool) -> np.ndarray:
    if matrix.ndim != 2 and not (vector and matrix.ndim == 1):
        raise ValueError(f"{path}: a matrix must be 2-D, this array has shape {matrix.shape}")
    if matrix.size == 0:
        raise ValueError(f"{path}: an empty {' x '.join(map(str, matrix.shape))} array: "
                         "nothing to judge")
    if matrix.dtype.kind in "iub":  # MATLAB and text often hold integers: exact in float64
        if matrix.size and np.abs(matrix.astype(np.float64)).max() > 2.0 ** 53:
            raise ValueError(f"{path}: integers beyond 2^53 are not exact in float64")
        return matrix.astype(np.float64)
    if matrix.dtype.kind != "f" or matrix.dtype.itemsize not in (4, 8):
        raise ValueError(f"{path}: elements of dtype {matrix.dtype}; real float32 or float64 "
                         "matrices only")
    return matrix.astype(matrix.dtype.newbyteorder("="), copy=False)  # big-endian: converted
