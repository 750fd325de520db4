"""The network's parameters: container, seeded initialisation, .npz save, and reading them
from the files any program writes.

Shared by the oracle and the implementations it judges, so that the same --seed gives the
same starting point everywhere. It does no arithmetic on the network.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np

from .data import STREAM_INIT, rng_for
from .files import write_npz
from .matrices import CONTAINERS, kind_of, read_matrix, read_named
from .shapes import BLOCKS, N_CLASSES, N_PIXELS, param_shapes, transposed_note

INITS = ("scaled", "course")


@dataclass
class Params:
    """W1: H x 784, b1: H x 1, W2: 10 x H, b2: 10 x 1 (float64 unless stated otherwise).

    The same container holds gradients (dW1, db1, dW2, db2) block by block.
    """

    W1: np.ndarray
    b1: np.ndarray
    W2: np.ndarray
    b2: np.ndarray

    @property
    def hidden(self) -> int:
        return self.W1.shape[0]

    def blocks(self) -> dict[str, np.ndarray]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def copy(self) -> Params:
        return self.map(np.copy)

    def finite(self) -> bool:
        """No NaN or infinity in any block."""
        return all(bool(np.isfinite(a).all()) for a in self.blocks().values())

    def astype(self, dtype) -> Params:
        """Every block converted to dtype (a copy)."""
        return self.map(lambda a: a.astype(dtype))

    def map(self, f, *others: Params) -> Params:
        """Params(f(self.W1, *(o.W1 for o in others)), ...): f applied block by block, the
        structure walked once (JAX's tree_map)."""
        return Params(*(f(*blocks) for blocks in self.zip(*others)))

    def zip(self, *others: Params) -> Iterator[tuple]:
        """(self.W1, *(o.W1 for o in others)), then b1, W2, b2: the blocks side by side, for
        a loop that updates them in place (`for param, dp in p.zip(grad): param -= lr * dp`)
        or reduces them; map where the result is a Params."""
        return zip(*(q.blocks().values() for q in (self, *others)), strict=True)


def init_params(hidden: int, seed: int = 0, init: str = "scaled") -> Params:
    """Seeded initial parameters, float64.

    ``scaled``: W ~ N(0, 1/fan_in), b = 0 (our default: keeps z1 of order 1 for unit pixels).
    ``course``: W = 0.01 * N(0, 1), b = 0 (the course's convention).
    W1 is drawn before W2 from one PCG64 stream, so every implementation starts alike.
    """
    if hidden < 1:
        raise ValueError(f"hidden width must be positive, got {hidden}")
    if init not in INITS:
        raise ValueError(f"--init must be one of {', '.join(INITS)}, got {init!r}")
    rng = rng_for(seed, STREAM_INIT)
    W1 = rng.standard_normal((hidden, N_PIXELS))
    W2 = rng.standard_normal((N_CLASSES, hidden))
    if init == "scaled":
        W1 /= np.sqrt(N_PIXELS)
        W2 /= np.sqrt(hidden)
    else:
        W1 *= 0.01
        W2 *= 0.01
    return Params(W1, np.zeros((hidden, 1)), W2, np.zeros((N_CLASSES, 1)))


def save_params(params: Params, path: Path) -> None:
    """Write W1, b1, W2, b2 to an .npz file, whole or not at all."""
    write_npz(Path(path), params.blocks())


def load_params(path: Path) -> Params:
    """Read W1, b1, W2, b2 as save_params writes them (or as read_params reads), as float64."""
    return read_params(path).astype(np.float64)


# A matrix's file: its block's letter and layer (1, [1] or _1), between any prefix and a
# -N or _N suffix (the step: the course's C++ code writes SequentialW0-3.mat) shared by the set.
BLOCK_FILE = re.compile(r"(?P<prefix>.*?)(?P<letter>[WwBb])(?:(?P<i>\d)|_(?P<j>\d)|\[(?P<k>\d)\])"
                        r"(?P<suffix>[-_]\d+)?")
NAMING = ("one file per matrix, named W1 b1 W2 b2, or W0 b0 W1 b1 where layers count from 0 "
          "as in the course's C++ code (also W[0], W_0; a prefix and a -N suffix shared by the "
          "four may surround the names: SequentialW0-3.mat)")


def read_params(source: Path | str | Sequence[Path | str]) -> Params:
    """W1, b1, W2, b2 in the files' own dtype (float32 or float64, one for all blocks), from
    one .npz (save_params, numpy.savez) or MATLAB .mat file (v4 to v7.3) holding them by
    name, or from a folder or a list of files holding one matrix each, in any format
    read_matrix reads, named as NAMING says: their layers count from 0 where a W0 or b0 is
    among them, else from 1 (both is refused). A bias may be a column, a row or a vector
    (MATLAB and C++ writers differ); it comes back as a column.

    Every way the files can be wrong is a ValueError that names the file (and the block) at
    fault: not an .npz or .mat (corrupt, empty, a .npy), a missing block, a file that is not
    a block's or a second one for a block, a dtype that is not real floating point, mixed
    dtypes, a wrong shape, no hidden unit, a NaN or an infinity.
    """
    paths = [Path(source)] if isinstance(source, str | Path) else [Path(p) for p in source]
    if len(paths) == 1 and not paths[0].is_dir():
        blocks, sources = _read_one_file(paths[0]), dict.fromkeys(BLOCKS, paths[0])
        base = 1
    else:
        sources, base = _block_files(paths)
        blocks = {name: read_matrix(path, vector=True) for name, path in sources.items()}
    # The block as its file names it too, where layers count from 0 (W1.mat is W2).
    what = {b: b if base == 1 else f"{b} ({b[0]}{int(b[1]) - 1} counting layers from 0)"
            for b in BLOCKS}
    for name, block in blocks.items():
        if block.dtype.kind != "f" or block.dtype.itemsize not in (4, 8):
            raise ValueError(f"{sources[name]}: {what[name]} has dtype {block.dtype}; "
                             "parameters are real float32 or float64")
        blocks[name] = block.astype(block.dtype.newbyteorder("="), copy=False)  # big-endian
    if len({b.dtype for b in blocks.values()}) > 1:
        label = {b: b if len(set(sources.values())) == 1 else sources[b].name for b in BLOCKS}
        each = ", ".join(f"{label[b]} {blocks[b].dtype}" for b in BLOCKS)
        raise ValueError(f"{describe(source)}: blocks of mixed dtypes ({each})")
    W1 = blocks["W1"]
    hidden = -1 if W1.ndim != 2 else W1.shape[1] if (
        W1.shape[0] == N_PIXELS != W1.shape[1]) else W1.shape[0]  # transposed: named below
    for name, shape in param_shapes(hidden).items():
        block = blocks[name]
        if name.startswith("b") and block.size == shape[0] and block.ndim <= 2 and (
                block.ndim < 2 or 1 in block.shape):
            blocks[name] = block = block.reshape(shape)
        if block.shape != shape:
            raise ValueError(f"{sources[name]}: {what[name]} has shape {block.shape}, "
                             f"expected {shape}{transposed_note(block.shape, shape)}")
    if hidden == 0:
        raise ValueError(f"{sources['W1']}: {what['W1']} has no row: a network needs at "
                         "least one hidden unit")
    for name, block in blocks.items():
        bad = np.size(block) - np.count_nonzero(np.isfinite(block))
        if bad:
            raise ValueError(f"{sources[name]}: {what[name]} holds {bad} NaN or infinite "
                             "entries")
    return Params(*(np.ascontiguousarray(blocks[b]) for b in BLOCKS))


def describe(source: Path | str | Sequence[Path | str]) -> str:
    """Parameters as a message names them: the file or folder, or the files."""
    return str(source) if isinstance(source, str | Path) else " ".join(map(str, source))


def _read_one_file(path: Path) -> dict[str, np.ndarray]:
    """The blocks of one .npz or MATLAB file, as stored."""
    if path.is_file() and path.stat().st_size == 0:
        raise ValueError(f"{path}: an empty file, not parameters")
    try:
        kind = kind_of(path)
        if kind == "npy":
            raise ValueError(f"{path}: a single .npy array, not an .npz of {', '.join(BLOCKS)} "
                             f"(or give a folder or a list of files: {NAMING})")
        if kind not in CONTAINERS:
            raise ValueError(f"{path}: neither an .npz nor a .mat file (parameters are read "
                             "from numpy's .npz or MATLAB's .mat, or from a folder or a list "
                             f"of files: {NAMING})")
        blocks = read_named(path, kind, BLOCKS)
    except Exception as err:  # an untrusted file: numpy's and scipy's decoders raise many kinds
        if isinstance(err, ValueError) and str(err).startswith(str(path)):
            raise
        raise ValueError(f"{path}: cannot read parameters: {err}") from err
    missing = [b for b in BLOCKS if b not in blocks]
    if missing:
        raise ValueError(f"{path}: missing block(s) {', '.join(missing)}")
    return blocks


def param_files(source: Path | str | Sequence[Path | str]) -> list[Path]:
    """The files read_params reads for `source`: the one file, or a folder's or a list's
    block files."""
    paths = [Path(source)] if isinstance(source, str | Path) else [Path(p) for p in source]
    if len(paths) == 1 and not paths[0].is_dir():
        return paths
    return list(_block_files(paths)[0].values())


def first_layer(source: Path | str | Sequence[Path | str]) -> int:
    """0 where the files of `source` (a folder or a list, as read_params takes them) name
    their layers from 0 (W0 b0 W1 b1: W1.mat is our W2), else 1; for the messages that
    name blocks in our W1 b1 W2 b2."""
    paths = [Path(source)] if isinstance(source, str | Path) else [Path(p) for p in source]
    if len(paths) == 1 and not paths[0].is_dir():
        return 1
    return _block_files(paths)[1]


def _block_files(paths: list[Path]) -> tuple[dict[str, Path], int]:
    """({block: its file}, the first layer's number in the names: 0 or 1) of a folder (the
    files named for a block; others are not read) or of a list of files (each named for
    one)."""
    folder = paths[0] if len(paths) == 1 else None
    where = describe(paths)
    if folder is not None:
        paths = sorted(p for p in folder.iterdir() if not p.name.startswith("."))
    named = {}
    for path in paths:
        m = BLOCK_FILE.fullmatch(path.stem)
        if m:
            layer = int(m["i"] or m["j"] or m["k"])
            letter = "W" if m["letter"] in "Ww" else "b"
            named[path] = (m["prefix"], m["suffix"] or ""), letter, layer
        elif folder is None:
            raise ValueError(f"{path}: not named for a block: {NAMING}")
    if not named:
        raise ValueError(f"{where}: no parameter file in it ({NAMING})")
    sets = sorted({s for s, _, _ in named.values()})
    if len(sets) > 1:
        raise ValueError(f"{where}: files of {len(sets)} parameter sets ("
                         f"{', '.join(f'{p}W*{s}' for p, s in sets)}); give one set")
    layers = {layer for _, _, layer in named.values()}
    if {0, 2} <= layers:
        raise ValueError(f"{where}: layers counted from 0 and from 1 ("
                         f"{', '.join(p.name for p, (_, _, k) in named.items() if k != 1)}): "
                         f"{NAMING}; keep one naming")
    base = 0 if 0 in layers else 1
    blocks = {}
    for path, (_, letter, layer) in named.items():
        block = f"{letter}{layer - base + 1}"
        if block not in BLOCKS:
            raise ValueError(f"{path}: layer {layer}, but a two-layer network's are {base} and "
                             f"{base + 1}")
        if block in blocks:
            raise ValueError(f"{where}: two files for {letter}{layer}: "
                             f"{blocks[block].name} and {path.name}")
        blocks[block] = path
    (prefix, suffix), = sets
    missing = [f"{prefix}{b[0]}{int(b[1]) + base - 1}{suffix}" for b in BLOCKS
               if b not in blocks]
    if missing:
        raise ValueError(f"{where}: no file for {', '.join(missing)} (layers counted from "
                         f"{base}: {NAMING})")
    return blocks, base
