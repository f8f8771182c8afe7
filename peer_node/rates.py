"""Transfer rates as people write them: ``125M`` or ``125 MB/s`` (decimal, as the browser shows sizes),
``100MiB`` (binary), a plain number of bytes a second, bits as network people write them (``100Mbit/s``,
``100 Mbps``, ``100Mb/s``), or ``0`` / ``none`` / ``unlimited`` for no limit.

Bits or bytes: ``bit`` and ``bps`` are bits; a lower-case ``b`` after an upper-case prefix (``Mb/s``, ``Kb``) is
bits, as in every network data sheet; ``B`` is bytes. ``5mb/s`` (all lower case) is refused as ambiguous, with both
spellings to choose from: read either way it could be a cap eight times off. The setting is echoed back in bytes
(``12.5 MB/s``), so a misread unit shows at once.
"""

from __future__ import annotations

import re
from decimal import Decimal

from wire.errors import BadInput

MAX_RATE = 10**12  # a terabyte a second: anything above is a typo, not a link
# Below a kilobyte a second a 2 MB piece takes over half an hour: sharing would stop, and "10" was surely meant
# as 10 MB/s (a bare number is bytes), so it is refused with a hint rather than taken.
MIN_RATE = 10**3
_UNLIMITED = {"0", "none", "unlimited", "off"}
_MULTIPLIERS = {"": 1, "k": 10**3, "m": 10**6, "g": 10**9, "ki": 2**10, "mi": 2**20, "gi": 2**30}
_RATE = re.compile(r"(?P<number>\d+(?:\.\d+)?)\s*(?P<prefix>[kmg]i?)?(?P<unit>bits?|bytes?|b)?"
                   r"(?P<per>/s|ps)?", re.IGNORECASE)
_DECIMAL_UNITS = ((10**9, "GB/s"), (10**6, "MB/s"), (10**3, "kB/s"))


def parse_rate(text: str) -> int | None:
    """Bytes a second, or None for no limit; BadInput says what a rate looks like."""
    cleaned = text.strip()
    if cleaned.lower() in _UNLIMITED:
        return None
    match = _RATE.fullmatch(cleaned)
    if match is None or len(cleaned) > 32:
        raise BadInput(f"not a rate: {cleaned[:32]!r} (examples: 125M, 500kB/s, 100MiB, 0 for no limit)")
    value = Decimal(match["number"]) * _MULTIPLIERS[(match["prefix"] or "").lower()]  # exact: 1.001k is 1001
    if value == 0:
        return None
    prefix, unit, per = match["prefix"] or "", match["unit"] or "", match["per"] or ""
    bits = _in_bits(prefix, unit, per)
    if bits is None:
        number = match["number"]
        raise BadInput(f"{cleaned} is ambiguous: write {number}{prefix.upper()}B/s for bytes a second or "
                       f"{number}{prefix.upper()}bit/s ({number} {prefix.upper()}bps) for bits")
    if bits:
        value /= 8
    rate = int(value)  # 0.5 is not "no limit": it is refused as too low below
    if rate > MAX_RATE:
        raise BadInput(f"rate too high: at most {MAX_RATE // 10**9} GB/s")
    if rate < MIN_RATE:
        hint = ("at least 1 kB/s (1k)" if prefix or unit else
                "a plain number is bytes a second, so write the unit (10M is 10 MB/s, 500k is 500 kB/s)")
        raise BadInput(f"rate too low: {rate} bytes a second would all but stop sharing; {hint}, or 0 for no limit")
    return rate


def _in_bits(prefix: str, unit: str, per: str) -> bool | None:
    """Whether the unit is bits; None when it cannot be told (``5mb/s``: megabits to a network person, megabytes
    to someone typing fast, eight times apart)."""
    if unit.lower().startswith("bit") or (unit == "b" and per.lower() == "ps"):
        return True
    if unit != "b":  # "B", "byte", or no unit at all
        return False
    if prefix[:1].isupper():
        return True  # Mb, Kb, Gb: as in every network data sheet
    return None if prefix else False  # "5mb" is refused; a bare "800b" is bytes (too low anyway)


def format_rate(rate: int | None) -> str:
    """``125 MB/s``, ``1.5 MB/s``, ``800 B/s``, or ``no limit``; parse_rate reads it back to the same number
    whenever it has at most four significant digits."""
    if rate is None:
        return "no limit"
    for size, unit in _DECIMAL_UNITS:
        if rate >= size:
            value = f"{rate / size:.3f}".rstrip("0").rstrip(".")
            return f"{value} {unit}"
    return f"{rate} B/s"
