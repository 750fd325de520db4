"""Outputs are written whole or not at all, and never over something that is not a file.

write_atomic(path, write) calls write(f) on a temporary file beside the target, flushes and
fsyncs it, gives it the mode the target has (or, for a new file, what the umask allows), and
renames it over the target; the directory is fsynced after. It refuses, with one line, a
target that exists and is not a regular file (a directory, a device, a FIFO, a socket), and a
symbolic link that leads to none; a link to a regular file is followed, so that the file it
names is replaced and the link kept. `-` and /dev/stdout (or /dev/stderr) are written
directly: that is clearly what the user means.

The temporary file is `.NAME.PID.oraclenet-tmp`. It is removed when the write fails, and on
SIGTERM once the entry point has installed common.process.exit_on_sigterm. A SIGKILL leaves
it behind; the next write to the same target removes every such file whose process is gone,
so at most one is ever left.
"""

from __future__ import annotations

import json
import math
import os
import stat
import sys
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from glob import escape
from pathlib import Path
from typing import BinaryIO

import numpy as np

STREAMS = {"-": "stdout", "/dev/stdout": "stdout", "/dev/stderr": "stderr"}
TMP_SUFFIX = ".oraclenet-tmp"
KINDS = ((stat.S_ISREG, "regular file"), (stat.S_ISDIR, "directory"),
         (stat.S_ISCHR, "character device"), (stat.S_ISBLK, "block device"),
         (stat.S_ISFIFO, "FIFO"), (stat.S_ISSOCK, "socket"))


class OutputError(OSError):
    """An output cannot be written where it was asked for; the message names it."""


def _kind(mode: int) -> str:
    return next((name for test, name in KINDS if test(mode)), "special file")


def _target(path: Path) -> Path:
    """The regular file to replace: path itself, or what a symbolic link there leads to."""
    if path.is_symlink():
        target = path.resolve()
        if not target.exists():
            raise OutputError(f"{path}: a symbolic link to {target}, which does not exist; "
                              "not written")
        path = target
    if path.exists() and not path.is_file():
        raise OutputError(f"{path}: exists and is a {_kind(path.stat().st_mode)}, not a "
                          "regular file; not written over")
    return path


def check_output(path: Path | str) -> None:
    """Before any work: refuse an output that write_atomic would refuse, or whose directory
    cannot be made or written to."""
    if str(path) in STREAMS:
        return
    target = _target(Path(path))
    existing = target.parent
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise OutputError(f"{path}: {existing} is a {_kind(existing.stat().st_mode)}, not a "
                          "directory")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise OutputError(f"{path}: cannot write in {existing} (permission denied)")


@dataclass(frozen=True)
class Folder:
    """A folder of outputs one command writes together (a report): `files`, named before the
    work, and files named during it that match `patterns` (heat maps). check() refuses, before
    the work, a folder that is not a directory and any of its files that could not be written,
    or that a symbolic link leads out of the folder (a report's files are created inside it);
    file(name) is the path to write; tidy(written) removes the pattern's files that this run
    did not write, so that the folder holds no stale heat map of an earlier run."""

    path: Path
    files: tuple[str, ...]
    patterns: tuple[str, ...] = ()

    def check(self) -> None:
        if str(self.path) in STREAMS:
            raise OutputError(f"{self.path}: a report is a folder of files; {self.path} names "
                              "a stream")
        if self.path.exists() and not self.path.is_dir():
            raise OutputError(f"{self.path}: exists and is a {_kind(self.path.stat().st_mode)}, "
                              "not a directory")
        for name in self.files:
            check_output(self.file(name))
        for found in self._matching():
            if found.is_symlink() or not found.is_file():
                kind = "symbolic link" if found.is_symlink() else _kind(found.stat().st_mode)
                raise OutputError(f"{found}: a {kind} where this report writes its own files; "
                                  "not written over")

    def file(self, name: str) -> Path:
        """DIR/name, refused when a symbolic link there leads out of DIR."""
        path = self.path / name
        if path.is_symlink():
            target, inside = path.resolve(), self.path.resolve()
            if not target.is_relative_to(inside):
                raise OutputError(f"{path}: a symbolic link to {target}, outside {self.path}; "
                                  "a report's files are written inside its folder")
        return path

    def _matching(self) -> list[Path]:
        if not self.path.is_dir():
            return []
        return sorted({p for pattern in self.patterns for p in self.path.glob(pattern)})

    def tidy(self, written) -> None:
        keep = set(written)
        for found in self._matching():
            if found.name not in keep and found.is_file() and not found.is_symlink():
                found.unlink()


def _umask() -> int:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)  # elsewhere: read it by setting it, and put it back at once
    os.umask(mask)
    return mask


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: alive
        return True
    return True


def _remove_stale(target: Path) -> None:
    """Remove the temporary files that killed writers of target left behind."""
    for stale in target.parent.glob(f".{escape(target.name)}.*{TMP_SUFFIX}"):
        pid = stale.name[len(target.name) + 2:-len(TMP_SUFFIX)]
        if pid.isdigit() and not _alive(int(pid)):
            with suppress(FileNotFoundError):
                stale.unlink()


def write_atomic(path: Path | str, write: Callable[[BinaryIO], None]) -> None:
    """write(f) into a temporary file, then rename it to path: whole or not at all."""
    if str(path) in STREAMS:
        stream = getattr(sys, STREAMS[str(path)]).buffer
        write(stream)
        stream.flush()
        return
    target = _target(Path(path))
    tmp = target.parent / f".{target.name}.{os.getpid()}{TMP_SUFFIX}"
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        _remove_stale(target)
        mode = (stat.S_IMODE(target.stat().st_mode) if target.exists()
                else 0o666 & ~_umask())
        with open(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as f:
            write(f)
            f.flush()
            os.fchmod(f.fileno(), mode)
            os.fsync(f.fileno())
        os.replace(tmp, target)
        directory = os.open(target.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
    except OSError as err:
        if isinstance(err, OutputError):
            raise
        raise OutputError(f"cannot write {path}: {err.strerror or err}") from err
    finally:
        with suppress(FileNotFoundError, NotADirectoryError):
            os.unlink(tmp)


def write_text(path: Path | str, text: str) -> None:
    write_atomic(path, lambda f: f.write(text.encode()))


def finite_or_null(obj):
    """obj with every non-finite float replaced by None: strict JSON, where null stands for
    NaN or an infinity (a diverged run's loss, with --allow-divergence)."""
    if isinstance(obj, dict):
        return {k: finite_or_null(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [finite_or_null(v) for v in obj]
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def write_json(path: Path | str, obj) -> None:
    """Strict JSON (never NaN or Infinity, which are not JSON: see finite_or_null)."""
    write_text(path, json.dumps(finite_or_null(obj), indent=2, allow_nan=False) + "\n")


def write_npz(path: Path | str, arrays: dict[str, np.ndarray], compressed: bool = False
              ) -> None:
    save = np.savez_compressed if compressed else np.savez
    write_atomic(path, lambda f: save(f, **arrays))


def save_figure(fig, path: Path | str) -> None:
    write_atomic(path, lambda f: fig.savefig(f, dpi=110, bbox_inches="tight", format="png"))
