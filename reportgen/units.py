"""Formatting shared by the text output, the charts and the reports (no heavy imports)."""
from __future__ import annotations

import math


def f_bytes(n) -> str:
    """A byte count in the largest binary unit that divides it exactly ("32 KiB", "1280 KiB",
    "2,047 B"); "n/a" when there is no number.  Exact, so a cache or a working set reads as
    the size it is."""
    if n is None or isinstance(n, bool) or (isinstance(n, float) and not math.isfinite(n)):
        return "n/a"
    n = int(n)
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= size and n % size == 0:
            return f"{n // size} {unit}"
    return f"{n:,} B"
