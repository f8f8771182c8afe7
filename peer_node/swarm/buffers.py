"""Piece buffers, reused: the one place a download's memory grows, so the one place it is bounded.

Each buffer is its own anonymous ``mmap``, so it starts on a page boundary: the store can then write a piece
with ``O_DIRECT`` (see ``store``), which needs aligned memory.
"""

from __future__ import annotations

import mmap
from collections import OrderedDict
from collections.abc import Callable


def pool_limits(budget: int, piece_size: int) -> tuple[int, int]:
    """How many piece buffers a download may fill from the network at once, and how many more may hold verified
    pieces the whole-file hash has not reached yet.

    Receiving: up to ``budget`` bytes; big pieces may take up to 4x that for 8 buffers, enough to keep two peers
    busy while pieces are hashed (an 8 GiB file has 8 MiB pieces: 64 MiB). Holding: a verified piece past a gap
    in the hash keeps its buffer until the hash reaches it (no read-back from the file), in buffers of its own
    so receiving never waits for them, as many as keep the pool within twice the budget (at least one). With
    three seeders about 48 pieces are in flight, so pieces arrive up to that far out of order; a quarter of the
    budget (8 pieces of 1 MiB) sent 95% of them back to the disk, 32 sent almost none (1 GiB swarm, TLS off:
    620-650 -> 770-850 MB/s).
    """
    size = max(1, piece_size)
    receive = max(2, budget // size, min(8, 4 * budget // size))
    return receive, max(1, (2 * budget - receive * size) // size)


class BufferPool:
    """At most ``limit`` buffers of ``size`` bytes, made on first need and handed round after that (a fresh
    megabyte costs page faults and zeroing every time; a reused one costs nothing).

    A buffer given back with the verified piece it holds stays that piece's copy in memory until the pool has
    nothing else to hand out, so the piece server can send it without reading the file (``cached``): in a flash
    crowd the pieces a node just got are the ones the others ask it for next. Buffers with nothing worth
    keeping go out first, most recently used first (still warm); kept pieces go oldest first. Only while
    ``keep_pieces()`` says so: with no one to serve, a download reuses its warmest buffers (1 GiB from 3
    seeders, TLS on: 10% faster than cycling through every buffer).
    """

    def __init__(self, size: int, limit: int, keep_pieces: Callable[[], bool] = lambda: True) -> None:
        self.size, self.limit = size, limit
        self.keep_pieces = keep_pieces
        self._free: list[memoryview] = []
        self._pieces: OrderedDict[int, memoryview] = OrderedDict()
        self.allocated = 0

    def take(self) -> memoryview | None:
        """A buffer, or None when all ``limit`` are in use (wait for one to come back)."""
        if self._free:
            return self._free.pop()
        if self.allocated < self.limit:
            self.allocated += 1
            return memoryview(mmap.mmap(-1, max(1, self.size)))
        if self._pieces:
            return self._pieces.popitem(last=False)[1]
        return None

    @property
    def in_use(self) -> int:
        return self.allocated - len(self._free) - len(self._pieces)

    def give(self, buf: memoryview, piece: int | None = None) -> None:
        """Back to the pool; ``piece``: it holds that verified piece, whole."""
        if piece is None or not self.keep_pieces():
            self._free.append(buf)
        else:
            stale = self._pieces.pop(piece, None)  # a duplicate copy of the same piece: one is enough
            if stale is not None:
                self._free.append(stale)
            self._pieces[piece] = buf

    def cached(self, piece: int) -> memoryview | None:
        """The buffer still holding verified piece ``piece``, if any (valid until the next ``take``)."""
        return self._pieces.get(piece)


class HeldBuffers:
    """The pool's buffers the whole-file hash keeps (``PieceStore.write_piece`` said ``held``) until it hands them
    back (``released``). The two news come from different writer threads through the event loop, in either
    order: a piece may be released by another thread's call before the callback saying it is held has run.
    That is remembered, so the buffer goes back to the pool either way instead of staying out of it for good."""

    def __init__(self, pool: BufferPool) -> None:
        self.pool = pool
        self._held: dict[int, memoryview] = {}
        self._released_early: set[int] = set()

    def __len__(self) -> int:
        return len(self._held)

    def get(self, index: int) -> memoryview | None:
        """The buffer holding verified piece ``index`` while the hash keeps it."""
        return self._held.get(index)

    def settle(self, index: int, buf: memoryview, held: bool, released: tuple[int, ...], *,
               verified: bool = True) -> None:
        """After piece ``index`` (in ``buf``) was written: keep ``buf`` if ``held``, and give back the buffers
        of the ``released`` pieces (each with its piece: see ``BufferPool.cached``). ``verified`` false: ``buf``
        failed its hash, and goes back as holding nothing."""
        if held and index not in self._released_early:
            self._held[index] = buf
        else:
            self._released_early.discard(index)
            self.pool.give(buf, index if verified else None)
        for other in released:
            if other != index or index in self._held:  # its own piece, if not kept, went back just above
                self.release(other)

    def release(self, index: int) -> None:
        """The whole-file hash is done with held piece ``index``: its buffer goes back to the pool (or, if the
        news that it is held has not come yet, as soon as it comes)."""
        kept = self._held.pop(index, None)
        if kept is not None:
            self.pool.give(kept, index)
        else:
            self._released_early.add(index)
