"""A compiled GEMM called through its C ABI, the way the BLAS testers call a library:
`--impl path/libmine.so:symbol --abi course|cblas` loads the symbol with ctypes and wraps it
as a Python callable of one of the battery's conventions (check/gemm.py).

    course  int myGEMM(T *A, T *B, T *C, T *alpha, T *beta, int M, int N, int K): C := alpha A B
            + beta C, column-major (the course's), T float or double (--dtype); a nonzero
            return is an error. The battery's `inplace` convention, `--layout col`.
    cblas   void cblas_?gemm(layout, transa, transb, int M, int N, int K, T alpha, const T *A,
            int lda, const T *B, int ldb, T beta, T *C, int ldc), CBLAS's enums (row-major
            101, column-major 102; no transpose 111, transpose 112). The `inplace-trans`
            convention, in the layout of --layout.

Host pointers only are tested: with device arrays (--arrays numba or cupy on a GPU) each
array's pointer comes from its `__cuda_array_interface__`, a path no test has run (no GPU
here). The library is loaded in the process that calls it (a case's child), so a crash in it
ends one case, not the check.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable
from pathlib import Path

import numpy as np

ABIS = {"course": "inplace", "cblas": "inplace-trans"}  # the battery convention of each
LIBRARY_SUFFIXES = (".so", ".dylib", ".dll")
ROW_MAJOR, COL_MAJOR, NO_TRANS, TRANS = 101, 102, 111, 112
C_TYPES = {np.dtype(np.float32): ctypes.c_float, np.dtype(np.float64): ctypes.c_double}


def is_library(module_part: str) -> bool:
    """Whether an --impl's part before the colon names a shared library."""
    name = Path(module_part).name
    return name.endswith(LIBRARY_SUFFIXES) or ".so." in name


def load_native(path: str, symbol: str, abi: str, dtype, layout: str, flag: str = "--impl"
                ) -> Callable:
    """`symbol` of the library at `path` (path/libmine.so:symbol, split by
    target.split_spec) wrapped for the battery; a ValueError naming the flag when the
    library does not load or lacks the symbol."""
    if abi not in ABIS:
        raise ValueError(f"--abi must be one of {', '.join(ABIS)}, got {abi!r}")
    spec = f"{path}:{symbol}"
    if not Path(path).is_file():
        raise ValueError(f"{flag} {spec!r}: no file {path}")
    try:
        library = ctypes.CDLL(str(Path(path).resolve()))
    except OSError as err:
        raise ValueError(f"{flag} {spec!r}: cannot load {path}: {err}") from None
    try:
        function = getattr(library, symbol)
    except AttributeError:
        raise ValueError(f"{flag} {spec!r}: {path} exports no symbol {symbol!r}") from None
    dtype = np.dtype(dtype)
    named = {"sgemm": np.dtype(np.float32), "dgemm": np.dtype(np.float64)}
    said = [kind for kind in named if kind in symbol.lower()]
    if abi == "cblas" and len(said) == 1 and named[said[0]] != dtype:
        # ctypes cannot see a C type: a mismatch would read as "certainly a bug"
        raise ValueError(f"{flag} {spec!r}: {symbol} is named for {named[said[0]]} "
                         f"({said[0]}), but --dtype is {dtype}; give --dtype "
                         f"{named[said[0]]}")
    T = C_TYPES[dtype]
    pointer = ctypes.POINTER(T)
    if abi == "course":
        function.restype = ctypes.c_int
        function.argtypes = [pointer, pointer, pointer, pointer, pointer,
                             ctypes.c_int, ctypes.c_int, ctypes.c_int]
        return _course(function, dtype, pointer, T, symbol)
    function.restype = None
    function.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_int,
                         ctypes.c_int, T, pointer, ctypes.c_int, pointer, ctypes.c_int, T,
                         pointer, ctypes.c_int]
    return _cblas(function, dtype, pointer, layout)


def _address(x, dtype: np.dtype, order: str, what: str) -> int:
    """The address of x's first element: a host array's, or a device array's from its
    __cuda_array_interface__; x must be of dtype with its rows (order C) or columns (F)
    contiguous, which the battery makes it (anything else is a bug of the check)."""
    interface = getattr(x, "__cuda_array_interface__", None)
    if interface is not None:  # untested: no GPU here
        return int(interface["data"][0])
    x = np.asarray(x)
    inner = 0 if order == "F" else 1  # the axis whose elements must lie side by side
    if x.dtype != dtype or (x.shape[inner] > 1 and x.strides[inner] != x.itemsize):
        raise TypeError(f"{what} must be {dtype} with {order}-ordered elements side by side, "
                        f"got {x.dtype}, strides {x.strides}")
    return x.ctypes.data


def _course(function, dtype: np.dtype, pointer, T, symbol: str) -> Callable:
    def gemm(C, A, B, alpha, beta) -> None:
        """myGEMM on column-major host (or device) arrays: C M x N, A M x K, B K x N."""
        M, N = np.shape(C)
        K = np.shape(A)[1]
        a, b = T(float(alpha)), T(float(beta))
        code = function(*(ctypes.cast(_address(x, dtype, "F", name), pointer)
                          for x, name in ((A, "A"), (B, "B"), (C, "C"))),
                        ctypes.pointer(a), ctypes.pointer(b), M, N, K)
        if code != 0:
            raise RuntimeError(f"{symbol} returned {code} (0 is success)")

    return gemm


def _cblas(function, dtype: np.dtype, pointer, layout: str) -> Callable:
    order = "F" if layout == "col" else "C"

    def leading(x) -> int:  # elements from one column to the next (col-major), or row
        rows, cols = np.shape(x)
        tight = max(1, rows if order == "F" else cols)
        if hasattr(x, "__cuda_array_interface__"):
            return tight
        outer = np.asarray(x).strides[1 if order == "F" else 0] // np.asarray(x).itemsize
        return max(tight, outer)

    def gemm(C, A, B, alpha, beta, transa: bool, transb: bool) -> None:
        """cblas_?gemm on C M x N, A stored M x K (K x M when transa), B K x N (N x K)."""
        M, N = np.shape(C)
        K = np.shape(A)[0] if transa else np.shape(A)[1]
        address = {name: ctypes.cast(_address(x, dtype, order, name), pointer)
                   for x, name in ((A, "A"), (B, "B"), (C, "C"))}
        function(COL_MAJOR if order == "F" else ROW_MAJOR, TRANS if transa else NO_TRANS,
                 TRANS if transb else NO_TRANS, M, N, K, float(alpha), address["A"], leading(A),
                 address["B"], leading(B), float(beta), address["C"], leading(C))

    return gemm
