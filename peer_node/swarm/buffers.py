"""Piece buffers, reused: the one place a download's memory grows, so the one place it is bounded."""

from __future__ import annotations


class BufferPool:
    """At most ``limit`` buffers of ``size`` bytes, made on first need and handed round after that (a fresh
    megabyte costs page faults and zeroing every time; a reused one costs nothing)."""

    def __init__(self, size: int, limit: int) -> None:
        self.size, self.limit = size, limit
        self._free: list[bytearray] = []
        self.allocated = 0

    def take(self) -> bytearray | None:
        """A buffer, or None when all ``limit`` are in use (wait for one to come back)."""
        if self._free:
            return self._free.pop()
        if self.allocated >= self.limit:
            return None
        self.allocated += 1
        return bytearray(self.size)

    @property
    def in_use(self) -> int:
        return self.allocated - len(self._free)

    def give(self, buf: bytearray) -> None:
        self._free.append(buf)
