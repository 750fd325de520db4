"""The implementation under test, named as MODULE:FUNCTION (importable),
path/to/file.py:FUNCTION (loaded from the file) or path/to/libmine.so:SYMBOL (a compiled
function, called through the ABI named: check/native.py), checked against the call it must
accept.

A named implementation is never imported into this process by the check: `probe` imports it
and inspects its signature in a child process with the case's timeout (check/runner.py), so
that a module which exits, crashes or hangs while importing ends the check with one line
(exit code 2), and each case's child imports it again for itself (Implementation.func).
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import os
import sys
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path


def load_callable(spec: str, flag: str = "--impl") -> Callable:
    """The function `spec` names; a ValueError naming the flag and what is wrong otherwise
    (no colon, a module that does not import, no such function, not callable)."""
    module_part, name = split_spec(spec, flag)
    try:
        module = _module(module_part)
    except Exception as err:  # the user's module may raise anything while importing
        raise ValueError(f"{flag} {spec!r}: cannot import {module_part}: "
                         f"{type(err).__name__}: {err}") from err
    target = module
    for part in name.split("."):
        if not hasattr(target, part):
            raise ValueError(f"{flag} {spec!r}: {module_part} has no {name!r}")
        target = getattr(target, part)
    if not callable(target):
        raise ValueError(f"{flag} {spec!r}: {name} is a {type(target).__name__}, not a function")
    return target


def split_spec(spec: str, flag: str,
               expected: str = "MODULE:FUNCTION or path/to/file.py:FUNCTION") -> tuple[str, str]:
    """(what holds it, the name) of a spec `where:name`, the last colon splitting them."""
    module_part, sep, name = spec.rpartition(":")
    if not sep or not module_part or not name:
        raise ValueError(f"{flag} {spec!r}: expected {expected}")
    return module_part, name


def _module(module_part: str):
    path = Path(module_part)
    if path.is_dir() and not (path / "__init__.py").is_file():
        raise FileNotFoundError(f"{path} is a folder, not a Python file or package: name "
                                f"the file, {path}/mine.py:FUNCTION")
    if module_part.endswith(".py") or path.is_file():
        if not path.is_file():
            raise FileNotFoundError(f"no file {path}")
        name = f"oraclenet_impl_{zlib.crc32(str(path.resolve()).encode()):08x}"
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # dataclasses and pickling look a module up by name
        sys.path.insert(0, str(path.resolve().parent))  # its own imports of its neighbours
        try:
            spec.loader.exec_module(module)
        finally:
            sys.path.remove(str(path.resolve().parent))
        return module
    if os.getcwd() not in sys.path:  # as `python -m` would: a module beside the user
        sys.path.insert(0, os.getcwd())
    return importlib.import_module(module_part)


def check_arity(func: Callable, arguments: tuple[str, ...], spec: str, convention: str,
                flag: str = "--impl") -> None:
    """Refuse, before any case runs, a function that cannot be called with these
    positional arguments (numba's @cuda.jit kernels and C extensions that hide their
    signature are let through: the first case will tell)."""
    try:
        signature = inspect.signature(func)
    except (TypeError, ValueError):
        return
    try:
        signature.bind(*arguments)
    except TypeError as err:
        raise ValueError(f"{flag} {spec!r}: {convention} calls it as f({', '.join(arguments)}); "
                         f"its signature is {signature}: {err}") from None


@dataclass(frozen=True)
class Native:
    """How to call a compiled function (check/native.py): its ABI, the element type and the
    layout of its arrays."""

    abi: str
    dtype: str
    layout: str

    def load(self, spec: str, flag: str) -> Callable:
        from .native import load_native

        path, symbol = split_spec(spec, flag, "path/to/libmine.so:SYMBOL")
        if path.endswith(".py"):
            raise ValueError(f"--abi {self.abi}: for a compiled library (libmine.so:SYMBOL); "
                             f"{path} is Python: leave --abi out")
        return load_native(path, symbol, self.abi, self.dtype, self.layout, flag)


@dataclass
class Implementation:
    """A callable given as such (the library), or a MODULE:FUNCTION (or, with `native`, a
    path/libmine.so:SYMBOL) loaded on first use in the process that calls it (a case's
    child)."""

    spec: str | None = None
    given: Callable | None = None
    flag: str = "--impl"
    native: Native | None = None
    _loaded: Callable | None = field(default=None, repr=False)

    @property
    def name(self) -> str:
        return self.spec or getattr(self.given, "__qualname__", repr(self.given))

    @property
    def func(self) -> Callable:
        if self.given is not None:
            return self.given
        if self._loaded is None:
            self._loaded = (load_callable(self.spec, self.flag) if self.native is None
                            else self.native.load(self.spec, self.flag))
        return self._loaded


def implementation(impl: str | Callable, arguments: tuple[str, ...], convention: str,
                   flag: str, timeout: float | None,
                   ready: Callable[[], str | None] | None = None,
                   native: Native | None = None) -> Implementation:
    """`impl` checked against the call it must accept: a callable here, a MODULE:FUNCTION (or
    with `native` a library's symbol) in a child process (runner.in_child) within `timeout`
    seconds; a ValueError naming `flag` and what the module did otherwise. ready(), where
    given, says in the child why the machine cannot run it (no GPU for device arrays), or
    None."""
    from .native import is_library
    from .runner import ChildFailed, in_child

    if native is not None and not isinstance(impl, str):
        raise ValueError(f"{flag}: an ABI is for a compiled library's symbol "
                         "(path/libmine.so:SYMBOL), not a Python callable")
    if native is None and isinstance(impl, str) and is_library(impl.rpartition(":")[0]):
        raise ValueError(f"{flag} {impl!r} is a compiled library: say how its function is "
                         "called with --abi course (the course's myGEMM) or --abi cblas")
    if not isinstance(impl, str):
        check_arity(impl, arguments, getattr(impl, "__name__", repr(impl)), convention, flag)
        refused = None if ready is None else in_child(ready, timeout, "checking the device")
        if refused:
            raise ValueError(refused)
        return Implementation(given=impl, flag=flag)
    module_part, _ = split_spec(impl, flag)

    def probe() -> str | None:
        try:
            if native is None:
                check_arity(load_callable(impl, flag), arguments, impl, convention, flag)
            else:
                native.load(impl, flag)
        except ValueError as err:
            return str(err)
        return None if ready is None else ready()

    try:
        refused = in_child(probe, timeout, f"importing {module_part}")
    except ChildFailed as err:
        raise ValueError(f"{flag} {impl!r}: {err}") from None
    if refused:
        raise ValueError(refused)
    return Implementation(spec=impl, flag=flag, native=native)
