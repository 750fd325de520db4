"""How work is split across P ranks: the first n mod P parts get one more item."""

from __future__ import annotations

import numpy as np


def counts(n: int, parts: int) -> np.ndarray:
    """Sizes of `parts` near-equal parts of n items (int64, first n mod parts one larger)."""
    if parts < 1:
        raise ValueError(f"cannot split into {parts} parts")
    base, extra = divmod(n, parts)
    return np.array([base + (r < extra) for r in range(parts)], dtype=np.int64)


def offsets(n: int, parts: int) -> np.ndarray:
    """First item of each part (int64), so part r is offsets[r] : offsets[r] + counts[r]."""
    return np.concatenate([[0], np.cumsum(counts(n, parts))[:-1]]).astype(np.int64)


def part(n: int, parts: int, r: int) -> slice:
    """The items of part r as a slice."""
    start = int(offsets(n, parts)[r])
    return slice(start, start + int(counts(n, parts)[r]))
