"""Read tolerances.toml: every numeric tolerance of the project, each with its derivation.

    tolerance("gemm.factor")  ->  1.0

The file is found at $ORACLENET_TOLERANCES, else beside the package's rooms: at the top of
a checkout (and of an editable install), in the oraclenet folder of an installed wheel, where
setup.py copies it.
"""

from __future__ import annotations

import os
import tomllib
from functools import cache
from pathlib import Path

DEFAULT_PATH = Path(__file__).resolve().parent.parent / "tolerances.toml"


class ToleranceError(ValueError):
    """tolerances.toml is missing, malformed, or lacks a key; the message names which."""


def tolerances_path() -> Path:
    return Path(os.environ.get("ORACLENET_TOLERANCES", DEFAULT_PATH))


@cache
def load_tolerances(path: Path) -> dict:
    """The parsed file; every leaf must be a finite number >= 0."""
    try:
        with open(path, "rb") as f:
            table = tomllib.load(f)
    except FileNotFoundError:
        raise ToleranceError(f"{path}: tolerance file not found "
                             "(set ORACLENET_TOLERANCES to its path)") from None
    except tomllib.TOMLDecodeError as err:
        raise ToleranceError(f"{path}: malformed TOML: {err}") from None
    _check_leaves(table, path, "")
    return table


def _check_leaves(table: dict, path: Path, prefix: str) -> None:
    for key, value in table.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            _check_leaves(value, path, name + ".")
        elif (isinstance(value, bool) or not isinstance(value, int | float)
              or not 0 <= value < float("inf")):
            raise ToleranceError(f"{path}: {name} = {value!r} is not a finite number >= 0")


def tolerance(key: str, path: Path | None = None) -> float:
    """The value of a dotted key such as 'gemm.factor'."""
    path = tolerances_path() if path is None else path
    node = load_tolerances(path)
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            raise ToleranceError(f"{path}: no tolerance named {key!r}")
        node = node[part]
    if isinstance(node, dict):
        raise ToleranceError(f"{path}: {key!r} is a table, not a number")
    return float(node)
