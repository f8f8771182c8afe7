"""Sets of pieces as Python ints: bit i set = piece i (pure).

Why ints: the picker asks "which missing piece of this availability does this peer have?" on every pick. With a
peer's pieces and each availability bucket as masks that is one ``&`` and a lowest-set-bit, done by CPython's
big-int code a machine word (60-odd pieces) at a time, instead of a Python call per piece.

The wire bitfield is MSB-first (piece 0 is 0x80 of byte 0); ``bitfield_mask`` reverses the bits of every byte
through a table and reads the bytes little-endian, so piece i lands on bit i in one pass over the bytes;
``mask_bitfield`` is the way back.
"""

from __future__ import annotations

from collections.abc import Iterator

PieceMask = int | None  # a peer's pieces; None: it has every piece (a whole-file seeder costs nothing to test)

_REVERSED = bytes.maketrans(bytes(range(256)), bytes(int(f"{b:08b}"[::-1], 2) for b in range(256)))


def bitfield_mask(bits: bytes | bytearray) -> int:
    """The pieces a wire bitfield (MSB first) sets, as a mask."""
    return int.from_bytes(bits.translate(_REVERSED), "little")


def mask_bitfield(mask: int, count: int) -> bytes:
    """The wire bitfield (MSB first) of the pieces in ``mask``, for a file of ``count`` pieces."""
    return (mask & full_mask(count)).to_bytes((count + 7) // 8, "little").translate(_REVERSED)


def full_mask(count: int) -> int:
    """Every piece of a file of ``count`` pieces."""
    return (1 << count) - 1


def pieces_we_lack(holder_bits: bytes | None, have: int, count: int) -> int:
    """How many of the pieces we lack (not in ``have``) a holder with wire bitfield ``holder_bits`` has: all of
    them for a whole-file seeder (None). The roster tries the most useful first; a partial holder with none is
    still worth a connection: it is downloading too, and what it gets next reaches us by HAVE."""
    if holder_bits is None:
        return count
    return (bitfield_mask(holder_bits) & ~have & full_mask(count)).bit_count()


def lowest_bit(mask: int) -> int:
    """The lowest piece in a non-empty mask (``mask & -mask`` keeps only that bit)."""
    return (mask & -mask).bit_length() - 1


def set_bits(mask: int) -> Iterator[int]:
    """The pieces in ``mask``, lowest first."""
    digits = bin(mask)[:1:-1]  # bit 0 first, "0b" dropped; str.find then skips runs of absent pieces in C
    index = digits.find("1")
    while index >= 0:
        yield index
        index = digits.find("1", index + 1)
