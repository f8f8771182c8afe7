"""Piece buffers, reused: the one place a download's memory grows, so the one place it is bounded.

Each buffer is its own anonymous ``mmap``, so it starts on a page boundary: the store can then write a piece
with ``O_DIRECT`` (see ``store``), which needs aligned memory.
"""

from __future__ import annotations

import mmap


class BufferPool:
    """At most ``limit`` buffers of ``size`` bytes, made on first need and handed round after that (a fresh
    megabyte costs page faults and zeroing every time; a reused one costs nothing)."""

    def __init__(self, size: int, limit: int) -> None:
        self.size, self.limit = size, limit
        self._free: list[memoryview] = []
        self.allocated = 0

    def take(self) -> memoryview | None:
        """A buffer, or None when all ``limit`` are in use (wait for one to come back)."""
        if self._free:
            return self._free.pop()
        if self.allocated >= self.limit:
            return None
        self.allocated += 1
        return memoryview(mmap.mmap(-1, max(1, self.size)))

    @property
    def in_use(self) -> int:
        return self.allocated - len(self._free)

    def give(self, buf: memoryview) -> None:
        self._free.append(buf)
