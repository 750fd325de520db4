"""How an implementation takes its arrays: host numpy arrays, or Numba or CuPy device arrays
(copied in before the call and out after it), in row (C) or column (Fortran) order. The
course's myGEMM is column-major: `--layout col`."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

KINDS = ("numpy", "numba", "cupy")
LAYOUTS = ("row", "col")


@dataclass(frozen=True)
class Arrays:
    """At check time, it moves host arrays to where the implementation wants them and back."""

    kind: str = "numpy"
    layout: str = "row"

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"--arrays must be one of {', '.join(KINDS)}, got {self.kind!r}")
        if self.layout not in LAYOUTS:
            raise ValueError(f"--layout must be row or col, got {self.layout!r}")
        if self.kind == "cupy":
            try:
                import cupy  # noqa: F401
            except ImportError as err:
                raise ValueError("--arrays cupy: CuPy is not installed here") from err

    @property
    def order(self) -> str:
        return "F" if self.layout == "col" else "C"

    def ordered(self, x: np.ndarray) -> np.ndarray:
        """A host copy of x in this layout."""
        return np.array(x, order=self.order, copy=True)

    def to_device(self, x: np.ndarray):
        """x (already ordered) where the implementation reads it."""
        if self.kind == "numba":
            from numba import cuda

            return cuda.to_device(x)
        if self.kind == "cupy":
            import cupy

            return cupy.asarray(x, order=self.order)
        return x

    def to_host(self, x) -> np.ndarray:
        """A result, wherever it lives, as a host numpy array."""
        if hasattr(x, "copy_to_host"):  # a Numba device array
            return x.copy_to_host()
        if type(x).__module__.startswith("cupy"):
            return x.get()
        return np.asarray(x)

    def view(self, buffer, offset: int, shape: tuple[int, int]):
        """The M x N matrix lying contiguous at `offset` in a 1-D buffer (host or device), in
        this layout: the guard-band case."""
        M, N = shape
        flat = buffer[offset:offset + M * N]
        return flat.reshape((M, N), order=self.order)
