"""common/memory.py reads /proc/meminfo: its figure is compared with its source, in bytes,
through a unit established independently (MemTotal against the C library's page count), not
only used as a threshold that any wrong unit would still pass."""

import os
from pathlib import Path

import pytest

from oraclenet.common import memory

MEMINFO = Path("/proc/meminfo")
pytestmark = pytest.mark.skipif(not MEMINFO.is_file(), reason="no /proc/meminfo (not Linux)")


def total_bytes() -> int:
    """The machine's memory from sysconf (sysinfo's totalram), not from /proc/meminfo."""
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def field(text: str, name: str) -> tuple[int, str]:
    value, unit = next(line.split()[1:3] for line in text.splitlines()
                       if line.startswith(f"{name}:"))
    return int(value), unit


def test_meminfo_counts_in_kibibytes():
    """MemTotal times 1024 is the memory sysconf reports, exactly: the unit the file calls
    'kB' is 1024 bytes."""
    value, unit = field(MEMINFO.read_text(), "MemTotal")
    assert unit == "kB"
    assert value * 1024 == total_bytes()


@pytest.fixture
def snapshot(tmp_path, monkeypatch) -> str:
    """/proc/meminfo as it is now, and common/memory.py made to read that copy (the live file
    changes between two readings)."""
    text = MEMINFO.read_text()
    (tmp_path / "meminfo").write_text(text)
    monkeypatch.setattr(memory, "Path", lambda p: tmp_path / "meminfo"
                        if str(p) == str(MEMINFO) else Path(p))
    return text


def test_the_available_memory_is_memavailable_in_bytes(snapshot):
    value, unit = field(snapshot, "MemAvailable")
    total, _ = field(snapshot, "MemTotal")
    bytes_per_unit = total_bytes() // total  # the unit, from the independent total
    assert bytes_per_unit == 1024 and unit == "kB"
    assert memory.available_bytes() == value * bytes_per_unit
    assert 0 < memory.available_bytes() <= total_bytes()


def test_without_meminfo_the_whole_memory_is_taken(tmp_path, monkeypatch):
    monkeypatch.setattr(memory, "Path", lambda p: tmp_path / "absent")
    assert memory.available_bytes() == total_bytes()


def test_the_live_figure_lies_within_the_machine():
    assert 0 < memory.available_bytes() <= total_bytes()
