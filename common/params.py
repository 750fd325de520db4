"""The network's parameters: container, seeded initialisation, and .npz save and load.

Shared by the oracle and the implementations it judges, so that the same --seed gives the
same starting point everywhere. It does no arithmetic on the network.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np

from .data import STREAM_INIT, rng_for
from .files import write_npz
from .shapes import BLOCKS, N_CLASSES, N_PIXELS, param_shapes

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
        return Params(*(f(*blocks) for blocks in zip(
            *(q.blocks().values() for q in (self, *others)), strict=True)))


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


def read_params(path: Path) -> Params:
    """W1, b1, W2, b2 from an .npz file (save_params, numpy.savez) or a MATLAB .mat file, in
    the file's own dtype (float32 or float64, one for all blocks). A bias may be a column, a
    row or a vector (MATLAB and C++ writers differ); it comes back as a column.

    Every way a file can be wrong is a ValueError that names it and the block at fault: not
    an .npz or .mat (corrupt, empty, a .npy), a missing block, a dtype that is not real
    floating point, mixed dtypes, a wrong shape, no hidden unit, a NaN or an infinity.
    """
    path = Path(path)
    if path.is_file() and path.stat().st_size == 0:
        raise ValueError(f"{path}: an empty file, not parameters")
    try:
        blocks = _read_mat(path) if path.suffix.lower() == ".mat" else _read_npz(path)
    except Exception as err:  # an untrusted file: numpy's and scipy's decoders raise many kinds
        if isinstance(err, ValueError) and str(err).startswith(str(path)):
            raise
        raise ValueError(f"{path}: cannot read parameters: {err}") from err
    missing = [b for b in BLOCKS if b not in blocks]
    if missing:
        raise ValueError(f"{path}: missing block(s) {', '.join(missing)}")
    for name, block in blocks.items():
        if block.dtype.kind != "f" or block.dtype.itemsize not in (4, 8):
            raise ValueError(f"{path}: {name} has dtype {block.dtype}; parameters are real "
                             "float32 or float64")
        blocks[name] = block.astype(block.dtype.newbyteorder("="), copy=False)  # big-endian
    dtypes = {b.dtype for b in blocks.values()}
    if len(dtypes) > 1:
        raise ValueError(f"{path}: blocks of mixed dtypes ({', '.join(sorted(map(str, dtypes)))})")
    W1 = blocks["W1"]
    hidden = W1.shape[0] if W1.ndim == 2 else -1
    for name, shape in param_shapes(hidden).items():
        block = blocks[name]
        if name.startswith("b") and block.size == shape[0] and block.ndim <= 2 and (
                block.ndim < 2 or 1 in block.shape):
            blocks[name] = block = block.reshape(shape)
        if block.shape != shape:
            raise ValueError(f"{path}: {name} has shape {block.shape}, expected {shape}")
    if hidden == 0:
        raise ValueError(f"{path}: W1 has no row: a network needs at least one hidden unit")
    for name, block in blocks.items():
        bad = np.size(block) - np.count_nonzero(np.isfinite(block))
        if bad:
            raise ValueError(f"{path}: {name} holds {bad} NaN or infinite entries")
    return Params(*(np.ascontiguousarray(blocks[b]) for b in BLOCKS))


def _read_npz(path: Path) -> dict[str, np.ndarray]:
    with open(path, "rb") as handle:  # our own handle: numpy leaks the one it opens when the
        if not handle.read(6).startswith((b"PK", b"\x93NUMPY")):  # zip is corrupt
            raise ValueError(f"{path}: neither an .npz nor a .mat file (parameters are read "
                             "from numpy's .npz or MATLAB's .mat)")
        handle.seek(0)
        loaded = np.load(handle, allow_pickle=False)
        if not isinstance(loaded, np.lib.npyio.NpzFile):
            raise ValueError(f"{path}: a single .npy array, not an .npz of {', '.join(BLOCKS)}")
        with loaded as archive:
            return {name: archive[name] for name in BLOCKS if name in archive.files}


def _read_mat(path: Path) -> dict[str, np.ndarray]:
    from .matrices import load_mat

    variables = load_mat(path)
    return {name: variables[name] for name in BLOCKS if name in variables}
