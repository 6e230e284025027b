"""Formatting shared by the text output, the charts and the reports (no heavy imports): the one home of
every number format.  Each formatter shows `na` ("n/a" on pages; the command line passes "-") for what
is not a number to show: None, NaN or infinity, a "not measured" marker, a template's undefined value."""
from __future__ import annotations

import math
import numbers

MEGA = 1e6   # rates are shown in millions of operations per second


def present(x) -> bool:
    """A finite number (bools count as numbers; markers and undefined values do not)."""
    return isinstance(x, numbers.Real) and (not isinstance(x, float) or math.isfinite(x))


def f_bytes(n, na: str = "n/a") -> str:
    """A byte count in the largest binary unit that divides it exactly ("32 KiB", "1280 KiB",
    "2,047 B"); `na` when there is no number.  Exact, so a cache or a working set reads as
    the size it is."""
    if not present(n) or isinstance(n, bool):
        return na
    n = int(n)
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= size and n % size == 0:
            return f"{n // size} {unit}"
    return f"{n:,} B"


def f_size(n, na: str = "n/a") -> str:
    """A measured size in binary units, rounded ("12.3 MiB", "840 KiB", "-1.5 MiB"): for resident
    memory, which comes in pages, not in the exact sizes f_bytes shows."""
    if not present(n) or isinstance(n, bool):
        return na
    a = abs(float(n))
    for unit, size, digits in (("GiB", 1 << 30, 2), ("MiB", 1 << 20, 1), ("KiB", 1 << 10, 0)):
        if a >= size:
            return f"{n / size:,.{digits}f} {unit}"
    return f"{n:,.0f} B"


def f_mega(x, na: str = "n/a") -> str:
    """A rate in millions, two decimals: "12.34 M"."""
    return f"{x / MEGA:.2f} M" if present(x) else na


def f_ops(x, na: str = "n/a") -> str:
    return f"{f_mega(x)} ops/s" if present(x) else na


def f_mops(x, na: str = "n/a") -> str:
    return f"{x / MEGA:.3f}" if present(x) else na


def f_pct(x, digits: int = 1, na: str = "n/a") -> str:
    return f"{x * 100:.{digits}f}%" if present(x) else na


def f_spct(x, digits: int = 2, na: str = "n/a") -> str:
    """A signed percentage: "+1.23%"."""
    return f"{x * 100:+.{digits}f}%" if present(x) else na


def f_num(x, na: str = "n/a") -> str:
    if not present(x):
        return na
    if isinstance(x, float) and not x.is_integer():
        return f"{x:,.4g}"
    return f"{int(x):,}"


def f_ns(x, na: str = "n/a") -> str:
    return f"{x:.2f} ns" if present(x) else na


def f_p(x, na: str = "n/a") -> str:
    return (f"{x:.3g}" if x >= 0.001 else f"{x:.1e}") if present(x) else na


def f_ratio(x, na: str = "n/a") -> str:
    return f"{x:.4f}" if present(x) else na


def f_range(ci, fmt=f_spct, na: str = "n/a") -> str:
    if not ci or not present(ci[0]) or not present(ci[1]):
        return na
    return f"{fmt(ci[0])} .. {fmt(ci[1])}"


def f_short(h, na: str = "n/a") -> str:
    return str(h)[:10] if h else na
