"""Sizes in words, one way for every door (console, /cmd, browser): decimal units, as file managers show them."""

from __future__ import annotations

_UNITS = ("B", "kB", "MB", "GB", "TB")


def human_size(n: float) -> str:
    """1536 -> '1.5 kB'; 123_456_789 -> '123 MB'."""
    if n < 1000:
        return f"{int(n)} B"
    value = float(n)
    for unit in _UNITS[1:]:
        value /= 1000
        if value < 1000 or unit == _UNITS[-1]:
            return f"{value:.1f} {unit}" if value < 100 else f"{value:.0f} {unit}"
    raise AssertionError("unreachable")
