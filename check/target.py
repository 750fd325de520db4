"""The implementation under test, named as MODULE:FUNCTION (importable) or
path/to/file.py:FUNCTION (loaded from the file), checked against the call it must accept."""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import sys
import zlib
from collections.abc import Callable
from pathlib import Path


def load_callable(spec: str, flag: str = "--impl") -> Callable:
    """The function `spec` names; a ValueError naming the flag and what is wrong otherwise
    (no colon, a module that does not import, no such function, not callable)."""
    module_part, sep, name = spec.rpartition(":")
    if not sep or not module_part or not name:
        raise ValueError(f"{flag} {spec!r}: expected MODULE:FUNCTION or path/to/file.py:FUNCTION")
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


def _module(module_part: str):
    path = Path(module_part)
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
