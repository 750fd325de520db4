"""How much memory a run will need, estimated before anything is allocated, against what the
machine has: a run that cannot fit is refused with one line instead of dying in numpy."""

from __future__ import annotations

import os
from pathlib import Path

from .shapes import N_PIXELS, n_parameters

FLOAT = 8  # bytes of a float64
# Copies of the parameters a step holds at once: p, its gradient, lambda W and lr g.
PARAMETER_COPIES = 4
# H x B arrays a step holds at once: a1, dz1, da1 and two elementwise temporaries.
ACTIVATION_COPIES = 5


class ResourceError(ValueError):
    """The run needs more memory than the machine has; the message names what and how much."""


def available_bytes() -> int:
    """Memory the kernel says a new allocation can get (MemAvailable), else all of it."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def human(n: float) -> str:
    """Bytes as KiB, MiB, GiB, ..."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:,.1f} {unit}" if unit != "B" else f"{n:,.0f} B"
        n /= 1024
    raise AssertionError("unreachable")


def check_fits(needed: float, what: str) -> None:
    """Refuse `what` when it needs more than the memory available now."""
    available = available_bytes()
    if needed > available:
        raise ResourceError(f"{what} needs about {human(needed)}, more than the "
                            f"{human(available)} this machine has available")


def network_bytes(hidden: int, batch: int) -> int:
    """A training step's parameters and activations in float64, at width H and batch B."""
    return FLOAT * (PARAMETER_COPIES * n_parameters(hidden)
                    + ACTIVATION_COPIES * hidden * batch + N_PIXELS * batch)


def check_network(hidden: int, batch: int) -> None:
    check_fits(network_bytes(hidden, batch), f"-n {hidden} hidden neurons with -b {batch}")
