"""Piece buffers, reused: the one place a download's memory grows, so the one place it is bounded.

A buffer is out while its piece is received, then while it is verified and written; after that it goes back to the
pool. Nothing else keeps one: each piece is verified on its own against the SHA-256 chain, so no whole-file hash
waits for pieces in memory and no piece is read back from the file (until the chain, a streamed whole-file hash
kept out-of-order pieces in extra buffers, or read them back: ~0.9 CPU-s per GiB and the read-back traffic). A
buffer given back still holds its verified piece, for the piece server (``BufferPool.cached``).

Each buffer is its own private anonymous ``mmap`` (``new_buffer``), so it starts on a page boundary: the store can
then write a piece with ``O_DIRECT`` (see ``store``), which needs aligned memory. Private, not shared: a shared
anonymous mapping is shmem, each page a page-cache page.

In small pages, not huge ones. From the fourteenth session to the fifteenth, a buffer of 2 MiB or more was advised
for transparent huge pages, so that a direct write of a piece went to the device as one request: on the machine of
the time, right after a libtorrent run freed ~1.3 GB, a 2 MiB buffer in scattered 4 KiB pages went out as three
(the disk's ``max_segments`` is 254) and our 1 GiB download moved 281-360 MB/s against 418-462. On the bench's
machine of the sixteenth session (a faster virtual disk; the balloon reports freed memory to the host, so a free
2 MiB block, the only kind a huge page comes from, is memory the host must hand back at first touch) huge pages
cost more than they saved. Three alternating pairs of ``python -m bench swarm crowd``, small pages (then of a
shared mapping) against huge: the 1 GiB download 908-958 MB/s against 837-894, the downloader's CPU 1.15-1.22 s
against 1.24-1.29 s; the flash crowd 2.92-3.04 s against 2.85-3.31 s (bench/HISTORY.md, sixteenth session).
"""

from __future__ import annotations

import contextlib
import mmap
from collections import OrderedDict
from collections.abc import Callable


def new_buffer(size: int) -> memoryview:
    """A zeroed buffer of ``size`` bytes on a page boundary, in small pages of a private anonymous mapping."""
    return memoryview(mmap.mmap(-1, max(1, size), flags=mmap.MAP_PRIVATE))


def free_buffer(view: memoryview | None) -> None:
    """Give a ``new_buffer``'s memory back to the system now, not when the collector finds it: a download's
    engine, links and channels refer to each other, so they go only with Python's oldest generation, and an
    audit's soak saw a node hold 700 MB of finished downloads' buffers that way (9 MB more each 64 MiB download).
    A view still in use elsewhere (a slice in a transport's send queue) keeps its mapping, freed with it."""
    if view is None:
        return
    base = view.obj
    view.release()
    if isinstance(base, mmap.mmap):
        # BufferError: exported pointers exist, a slice of it lives on, and the mapping with it
        with contextlib.suppress(BufferError):
            base.close()


def receive_buffers(budget: int, piece_size: int) -> int:
    """How many piece buffers a download may have, all of them filled from the network and then verified and
    written: up to ``budget`` bytes; big pieces may take up to 4x that for 8 buffers, enough to keep two peers
    busy while pieces are verified (an 8 GiB file has 8 MiB pieces: 64 MiB); never fewer than two."""
    size = max(1, piece_size)
    return max(2, budget // size, min(8, 4 * budget // size))


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
        self.allocated = 0  # buffers made and not freed
        self.made = 0  # buffers ever made: never more than ``limit``
        self.closed = False

    def take(self) -> memoryview | None:
        """A buffer, or None when all ``limit`` are in use (wait for one to come back)."""
        if self._free:
            return self._free.pop()
        if self.allocated < self.limit and not self.closed:
            self.allocated += 1
            self.made += 1
            return new_buffer(self.size)
        if self._pieces:
            return self._pieces.popitem(last=False)[1]
        return None

    @property
    def in_use(self) -> int:
        return self.allocated - len(self._free) - len(self._pieces)

    def give(self, buf: memoryview, piece: int | None = None) -> None:
        """Back to the pool; ``piece``: it holds that verified piece, whole."""
        if self.closed:  # a late give (a link lost after the end) frees it
            self.allocated -= 1
            free_buffer(buf)
        elif piece is None or not self.keep_pieces():
            self._free.append(buf)
        else:
            stale = self._pieces.pop(piece, None)  # a duplicate copy of the same piece: one is enough
            if stale is not None:
                self._free.append(stale)
            self._pieces[piece] = buf

    def cached(self, piece: int) -> memoryview | None:
        """The buffer still holding verified piece ``piece``, if any (valid until the next ``take``)."""
        return self._pieces.get(piece)

    def close(self) -> None:
        """The download is over: free every buffer back in the pool now (``free_buffer``); one still out is
        freed with its last reference. Nothing is handed out after this."""
        self.closed = True
        buffers, self._free, self._pieces = [*self._free, *self._pieces.values()], [], OrderedDict()
        self.allocated -= len(buffers)  # what stays counted is out (``in_use``), freed as it comes back
        for buf in buffers:
            free_buffer(buf)
