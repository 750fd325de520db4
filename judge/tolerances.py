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
SANE = "sane"  # the table of every tolerance's allowed range


class ToleranceError(ValueError):
    """tolerances.toml is missing, malformed, or lacks a key; the message names which."""


def tolerances_path() -> Path:
    return Path(os.environ.get("ORACLENET_TOLERANCES", DEFAULT_PATH))


@cache
def load_tolerances(path: Path) -> dict:
    """The parsed file. Every tolerance is a finite number inside its range of the [sane]
    table, and has one; a range is [low, high] with 0 <= low <= high."""
    try:
        if Path(path).exists() and not Path(path).is_file():
            raise ToleranceError(f"{path}: not a regular file")
        with open(path, "rb") as f:
            table = tomllib.load(f)
    except FileNotFoundError:
        raise ToleranceError(f"{path}: tolerance file not found "
                             "(set ORACLENET_TOLERANCES to its path)") from None
    except tomllib.TOMLDecodeError as err:
        raise ToleranceError(f"{path}: malformed TOML: {err}") from None
    except (OSError, UnicodeDecodeError) as err:
        raise ToleranceError(f"{path}: cannot read: {err}") from None
    sane = table.get(SANE, {})
    if not isinstance(sane, dict):
        raise ToleranceError(f"{path}: [{SANE}] must be a table of ranges")
    ranges = dict(_leaves(sane, ""))
    for name, value in _leaves({k: v for k, v in table.items() if k != SANE}, ""):
        if not _is_number(value):
            raise ToleranceError(f"{path}: {name} = {value!r} is not a finite number >= 0")
        span = ranges.get(name)
        if not (isinstance(span, list) and len(span) == 2 and all(map(_is_number, span))
                and span[0] <= span[1]):
            raise ToleranceError(f"{path}: {name} has no range [low, high] in [{SANE}] "
                                 f"(found {span!r})")
        if not span[0] <= value <= span[1]:
            raise ToleranceError(f"{path}: {name} = {value!r} lies outside its sane range "
                                 f"[{span[0]:g}, {span[1]:g}]")
    return table


def _is_number(value) -> bool:
    return (not isinstance(value, bool) and isinstance(value, int | float)
            and 0 <= value < float("inf"))


def _leaves(table: dict, prefix: str):
    """(dotted name, value) of every leaf of a TOML table."""
    for key, value in table.items():
        if isinstance(value, dict):
            yield from _leaves(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value


def tolerance(key: str, path: Path | None = None) -> float:
    """The value of a dotted key such as 'gemm.factor'."""
    path = tolerances_path() if path is None else path
    node = load_tolerances(path)
    if key.split(".")[0] == SANE:
        raise ToleranceError(f"{path}: {key!r} is a range, not a tolerance")
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            raise ToleranceError(f"{path}: no tolerance named {key!r}")
        node = node[part]
    if isinstance(node, dict):
        raise ToleranceError(f"{path}: {key!r} is a table, not a number")
    return float(node)
