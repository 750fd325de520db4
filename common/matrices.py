"""Matrices from the files another program wrote: what `oraclenet check` reads.

    .npy                 one array (numpy), memory-mapped
    .npz                 one array, or the one named
    .mat                 MATLAB v4 to v7.2 (scipy.io) or v7.3 (HDF5, h5py): one variable, or
                         the one named
    arma_binary          Armadillo's `save(name, arma_binary)`: a header line
                         ARMA_MAT_BIN_FN008 (float64) or ..._FN004 (float32), a line
                         `n_rows n_cols`, then the elements column by column (little-endian)
    arma_ascii           Armadillo's default text format: ARMA_MAT_TXT_FN008 and the same
                         size line, then one row per line
    raw_ascii            numbers separated by blanks, one row per line (no header)
    csv_ascii            the same with commas (a .csv file)
    raw binary           little-endian float32 or float64 with its shape and order given
                         (RawLayout), as `fwrite` or `ofstream::write` leave it

Which format a file is comes from its content alone, whatever its suffix (C++ programs save
Armadillo's raw_ascii under a `.mat` name): the Armadillo headers, numpy's magic, the zip of
an .npz, HDF5's signature at byte 0 or 512 (MATLAB v7.3), MATLAB v5's header, a MATLAB v4
variable header; text without a header is raw_ascii, or csv_ascii where it holds commas.
Every way a file can be wrong is a ValueError that names the file: unreadable, truncated or
too long for its header, not 2-D, not real, not finite where finiteness is asked, larger
than the memory available, or an object array (numpy's advice to unpickle an untrusted file
is never passed on).
"""

from __future__ import annotations

import math
import re
import struct
import warnings
from collections.abc import Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .memory import ResourceError, check_fits

ARMA_BINARY = re.compile(rb"ARMA_MAT_BIN_(FN|IS|IU)0*(\d+)")
ARMA_TEXT = re.compile(rb"ARMA_MAT_TXT_(FN|IS|IU)0*(\d+)")
FLOATS = {4: np.dtype("<f4"), 8: np.dtype("<f8")}
RAW_DTYPES = {"float32": np.dtype("<f4"), "float64": np.dtype("<f8")}
HEAD = 520  # bytes that tell the format: up to HDF5's signature after MATLAB's 512-byte block
HDF5 = b"\x89HDF\r\n\x1a\n"
CONTAINERS = ("npz", "matlab", "hdf5")  # kinds that hold named arrays


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
                vector: bool = False, raw_flags: bool = False) -> np.ndarray:
    """The 2-D real matrix in `path` (float32 or float64, as the file holds it; text is read
    as float64). `raw` reads a headerless binary file; `name` picks an array of an .npz or a
    variable of a .mat holding several; `vector` accepts a 1-D array too (labels);
    `raw_flags`: the command takes --raw and --shape, so a binary file of no known format
    is told to use them."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if not path.is_file():
            raise ValueError(f"{path}: not a regular file")
        if raw is not None:
            matrix = _read_raw(path, raw, size)
        else:
            with open(path, "rb") as f:
                head = f.read(HEAD)
            matrix = _read_by_kind(path, head, size, name, raw_flags)
    except Exception as err:  # an untrusted file: the decoders raise many kinds
        if isinstance(err, ResourceError):
            raise
        message = str(err)
        raise ValueError(message if message.startswith(str(path))
                         else f"{path}: cannot read a matrix: {message}") from err
    return _checked(path, matrix, vector)


NUMBER = re.compile(rb"[-+]?(\d*)\.?(\d*)(?:[eE][-+]?\d+)?")


def text_digits(paths: Sequence[Path]) -> tuple[int, Path] | None:
    """(the fewest significant digits, that file) over the text files among `paths` (plain
    text, csv, Armadillo text), a file's digits being its longest number's: what it was
    printed with (`%.6g` writes 6, Armadillo's raw_ascii 17 for double, 9 for float); None
    when no file is text, or every text file holds zeros and integers only (exact: labels,
    one-hot rows, biases at 0)."""
    found = []
    for path in paths:
        if kind_of(path) not in ("text", "arma_ascii"):
            continue
        numbers = [m for m in NUMBER.finditer(path.read_bytes()) if (m[1] + m[2]).strip(b"0")]
        if all(m[0].lstrip(b"-+").isdigit() for m in numbers):
            continue  # zeros and integers only (labels, one-hot rows): held exactly
        found.append((max(len((m[1] + m[2]).lstrip(b"0")) for m in numbers), path))
    return min(found, key=lambda f: f[0]) if found else None


def round_trip_digits(dtype) -> int:
    """The significant digits that write every value of dtype exactly (C's *_DECIMAL_DIG,
    max_digits10): 17 for float64, 9 for float32."""
    return math.ceil((np.finfo(dtype).nmant + 1) * math.log10(2)) + 1


def dump_rounding(paths: Sequence[Path], dtype) -> tuple[int, str] | None:
    """(digits, why) when a text file among `paths` was printed with fewer significant
    digits than write dtype exactly: its rounding, up to half a unit of its last digit, may
    exceed the roundoff a judge allows; None when every file holds its values exactly."""
    found = text_digits(paths)
    needed = round_trip_digits(dtype)
    if found is None or found[0] >= needed:
        return None
    digits, path = found
    single = round_trip_digits(np.float32)
    hint = (f" (if it was computed in float32, which {single} digits write exactly, give "
            "--dtype float32)" if digits >= single else "")
    return digits, (f"{path} holds numbers printed with {digits} significant digits (a "
                    f"rounding of up to {0.5 * 10.0 ** (1 - digits):.0e} relative), fewer than "
                    f"the {needed} that write {np.dtype(dtype)} exactly; write the matrices "
                    f"with %.{needed}g (Armadillo's raw_ascii does) or in a binary format"
                    + hint)


def kind_of(path: Path) -> str:
    """What `path` holds, from its first bytes (see sniff)."""
    with open(path, "rb") as f:
        return sniff(f.read(HEAD))


def sniff(head: bytes) -> str:
    """A file's format from its first HEAD bytes: arma_binary, arma_ascii, npy, npz, hdf5
    (MATLAB v7.3), matlab (v4 to v7.2), text or binary."""
    if ARMA_BINARY.match(head):
        return "arma_binary"
    if ARMA_TEXT.match(head):
        return "arma_ascii"
    if head.startswith(b"\x93NUMPY"):
        return "npy"
    if head.startswith(b"PK"):
        return "npz"
    if head.startswith(HDF5) or head[512:520] == HDF5:  # v7.3: MATLAB's header comes first
        return "hdf5"
    if head.startswith(b"MATLAB") or head[126:128] in (b"IM", b"MI") or _matlab_v4(head):
        return "matlab"
    return "text" if _text_like(head) else "binary"


def _matlab_v4(head: bytes) -> bool:
    """Whether head starts as a MATLAB v4 file, which has no signature: five int32 (the type
    code MOPT, rows, columns, an imaginary flag, the name's length) and the NUL-ended name.
    The type code's digits are so constrained that a raw float dump almost never fits."""
    if len(head) < 20:
        return False
    for order, machine in (("<", 0), (">", 1)):  # IEEE little- and big-endian
        mopt, rows, cols, imaginary, length = struct.unpack(f"{order}5i", head[:20])
        name = head[20:20 + length]
        if (mopt // 1000 == machine and mopt // 100 % 10 == 0 and mopt // 10 % 10 <= 5
                and mopt % 10 <= 2 and min(rows, cols) >= 0 and imaginary in (0, 1)
                and len(name) == length >= 2 and name.endswith(b"\0")
                and name[:-1].isascii() and name[:-1].decode().isidentifier()):
            return True
    return False


def _read_by_kind(path: Path, head: bytes, size: int, name: str | None, raw_flags: bool
                  ) -> np.ndarray:
    kind = sniff(head)
    if kind == "arma_binary":
        return _read_arma_binary(path, head, size)
    if kind == "arma_ascii":
        return _read_arma_text(path, head)
    if kind == "npy":
        with _objects_refused(path):  # memory-mapped: a matrix larger than the memory is
            return np.load(path, mmap_mode="r", allow_pickle=False)  # read as it is used
    if kind in CONTAINERS:
        chosen = _read_container(path, kind, lambda names: [_pick(path, names, name)])
        return next(iter(chosen.values()))
    if kind == "binary":
        raise ValueError(f"{path}: binary, but neither .npy, .npz, MATLAB nor arma_binary"
                         + ("; for raw binary give --raw float32|float64 --shape M,N"
                            if raw_flags else ""))
    return _read_text(path, "," if b"," in head else None)


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
        try:
            return np.loadtxt(path, delimiter=delimiter, ndmin=2, skiprows=skip,
                              dtype=np.float64)
        except ValueError as err:  # rows of different lengths: numpy's fact, not its advice
            raise ValueError(str(err).split("; use `usecols`")[0]) from None


def read_named(path: Path, kind: str, names: tuple[str, ...]) -> dict[str, np.ndarray]:
    """Those of the arrays called `names` that an .npz or a MATLAB file (v4 to v7.3; `kind`
    one of CONTAINERS, as kind_of tells it) holds, as stored (not checked)."""
    return _read_container(path, kind, lambda found: [n for n in names if n in found])


def _read_container(path: Path, kind: str, choose) -> dict[str, np.ndarray]:
    """The arrays of an .npz or MATLAB file that choose(the names it holds) names."""
    if kind != "npz":
        variables = load_mat(path)
        return {n: variables[n] for n in choose(list(variables))}
    check_fits(path.stat().st_size, str(path))
    # Our own handle: numpy leaks its own on a corrupt zip.
    with _objects_refused(path), open(path, "rb") as handle, np.load(
            handle, allow_pickle=False) as archive:
        return {n: np.asarray(archive[n]) for n in choose(archive.files)}


@contextmanager
def _objects_refused(path: Path):
    """numpy refuses an object array with advice to unpickle the file, which a judge of
    untrusted files must never give: one line of ours instead."""
    try:
        yield
    except ValueError as err:
        if "pickle" in str(err) or "Python objects" in str(err):
            raise ValueError(f"{path}: holds Python objects (an object array), not numbers; "
                             "save real float32 or float64 arrays") from None
        raise


MAT_TIMEOUT = 120.0  # seconds for scipy.io to read one .mat file


def _load_mat_child(path: Path, conn) -> None:
    import faulthandler

    faulthandler.disable()  # a crash here is reported by the parent, in one line

    try:
        if kind_of(path) == "hdf5":
            conn.send(("ok", _load_mat_v73(path)))
        else:
            import scipy.io

            variables = scipy.io.loadmat(path)
            conn.send(("ok", {k: np.asarray(v) for k, v in variables.items()
                              if not k.startswith("__")}))
    except NotImplementedError:  # scipy's answer to v7.3's header, here without HDF5 after it
        conn.send(("error", "a MATLAB v7.3 header without HDF5 data at byte 512 (truncated or "
                            "damaged)"))
    except Exception as err:  # an untrusted file: the decoders raise many kinds
        conn.send(("error", f"not a readable .mat file: {type(err).__name__}: {err}"))
    conn.close()


MATLAB_NUMERIC = {"double", "single", "logical", *(f"{s}int{n}" for s in ("", "u")
                                                   for n in (8, 16, 32, 64))}


def _load_mat_v73(path: Path) -> dict[str, np.ndarray]:
    """The variables of a MATLAB v7.3 file: HDF5 (after MATLAB's 512-byte user block), each
    variable a dataset with a MATLAB_class attribute. MATLAB stores a matrix column-major, so
    HDF5 sees it transposed: transposed back. A struct, cell, string or sparse matrix comes
    as an object array, refused by its dtype as scipy's reading of one in a v5 file is."""
    import h5py

    variables = {}
    with h5py.File(path, "r", locking=False) as f:  # only read: no lock to be refused
        for name, item in f.items():
            if name.startswith("#"):  # MATLAB's own #refs# and #subsystem#
                continue
            kind = item.attrs.get("MATLAB_class")
            if kind is None:
                raise ValueError(f"HDF5, but {name!r} has no MATLAB_class: not a MATLAB v7.3 "
                                 "file, whose layout is the only one known")
            kind = kind.decode() if isinstance(kind, bytes) else str(kind)
            if not isinstance(item, h5py.Dataset) or kind not in MATLAB_NUMERIC:
                variables[name] = np.empty((1, 1), dtype=object)
            elif item.attrs.get("MATLAB_empty", 0):  # its data are its sizes, not elements
                variables[name] = np.empty((0, 0))
            else:
                check_fits(item.size * item.dtype.itemsize, f"{path}: {name}")
                data = item[()]
                if data.dtype.names == ("real", "imag"):  # complex: refused as such
                    data = data["real"] + 1j * data["imag"]
                variables[name] = np.asarray(data).T
    return variables


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
