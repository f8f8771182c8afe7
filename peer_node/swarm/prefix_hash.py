"""The whole-file SHA-256 of a download, streamed over the written prefix while pieces arrive in any order.

Theory of operation: SHA-256 is sequential, pieces are not. Every written piece is reported with ``add``. The
thread that reports the piece the prefix needs next becomes the hasher: it hashes that piece from the memory in
hand (still hot in its cache after the piece hash and the ``pwrite``), then every later piece already written,
until the prefix reaches a gap. Only the lock's bookkeeping is serialised, never the hashing: a thread that
finds a hasher at work records its piece and returns at once (the first version held one lock over the
hashing, so on two cores one writer thread waited while the other read back and hashed a run of pieces).

A later piece is taken from memory when its writer was allowed to *hold* it (``may_hold``): its buffer is then
kept here, untouched, until the prefix reaches it, and handed back through the ``released`` list of whichever
``add`` call hashed it, or at once through ``on_hashed`` if the caller set it. A run over a few dozen held pieces
takes tens of milliseconds; buffers that came back only at its end left a downloader's links with nothing to
receive into meanwhile (a 1 GiB swarm with TLS had 26-31 of its 32 buffers out so at times). Otherwise the piece
is read back from the file with ``read_back``. The caller bounds how many buffers may be held at once, so memory
stays bounded. Each ``add`` reads back only a few pieces (enough to clear the backlog by the last piece), so no
writer thread is tied up for a long run while new pieces queue; ``drain`` hashes whatever is left at the end. The
picker takes the lowest piece it can, so pieces mostly arrive near the prefix; a resumed download's earlier pieces
are read back once the prefix reaches them.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass

Data = memoryview | bytearray


@dataclass(frozen=True, slots=True)
class Added:
    held: bool  # the caller's buffer is kept until it comes back in some call's ``released``
    released: tuple[int, ...]  # pieces whose held buffers are free again


class PrefixHash:
    def __init__(self, count: int, written: Iterable[int], read_back: Callable[[int], Data], *,
                 reads_per_add: int = 2, hold_reach: int = 64, max_held: int | None = None) -> None:
        self.count = count
        self.reads_per_add, self.hold_reach = reads_per_add, hold_reach
        self.max_held = max_held  # buffers held at once (None: no bound); the caller's memory, so its call
        # Called in the hashing thread with each held piece as soon as it is hashed (its buffer is free again),
        # instead of listing it in ``released``; None: ``released`` only.
        self.on_hashed: Callable[[int], None] | None = None
        self._read_back = read_back
        self._lock = threading.Lock()
        self._hash = hashlib.sha256()
        self._next = 0  # first piece not yet in the hash
        self._written: set[int] = set(written)  # written pieces past the prefix
        self._held: dict[int, Data] = {}
        self._busy = False  # a thread is hashing; nobody else may touch _hash or _next
        self.read_backs = 0  # pieces read again from the file (for tests and profiling)

    def add(self, index: int, data: Data | None, *, may_hold: bool = False) -> Added:
        """Record piece ``index`` as written (``data``: its bytes, if the caller has them) and hash as far as the
        prefix goes, reading back at most ``reads_per_add`` pieces, unless another thread is hashing already.
        A piece is held only within ``hold_reach`` of the prefix (one far ahead would wait for the whole
        download) and among the ``max_held`` nearest the prefix. Thread-safe."""
        released: list[int] = []
        from_held = False
        with self._lock:
            if index < self._next or index in self._written or (self._busy and index == self._next):
                return Added(False, ())  # a duplicate (endgame): counted already (a hasher works on _next)
            held = False
            if self._busy or index != self._next:
                self._written.add(index)
                held = may_hold and data is not None and index - self._next <= self.hold_reach and self._room_for(
                    index, released)
                if held:
                    assert data is not None
                    self._held[index] = data
                if self._busy or self._next not in self._written:
                    return Added(held, tuple(released))
                index, data, from_held = self._take_next()  # written before: left over, or a resumed download
            self._busy = True
            # Spread the read-backs over the pieces still to come, so the backlog is gone when the last one is.
            backlog = len(self._written) - len(self._held) + (data is None)
            to_come = self.count - self._next - len(self._written)
            reads = max(self.reads_per_add, -(-backlog // max(1, to_come)))
        return Added(held, self._hash_run(index, data, from_held, released, reads))

    def _room_for(self, index: int, released: list[int]) -> bool:
        """Whether piece ``index`` may be held (call with the lock): while fewer than ``max_held`` are, or in
        place of the held piece farthest from the prefix if that one is farther (it goes to ``released`` and
        will be read back). So the held pieces are always those the hash needs soonest: a slow peer's piece
        arriving late no longer finds every slot taken by pieces far ahead of it."""
        if self.max_held is None or len(self._held) < self.max_held:
            return True
        farthest = max(self._held, default=-1)
        if farthest <= index:
            return False
        del self._held[farthest]
        released.append(farthest)
        return True

    def drain(self) -> None:
        """Hash every written piece left past the prefix, reading back as many as needed (at the end of a
        download, once no ``add`` runs)."""
        released: list[int] = []
        with self._lock:
            if self._busy or self._next not in self._written:
                return
            index, data, from_held = self._take_next()
            self._busy = True
        self._hash_run(index, data, from_held, released, None)

    def _take_next(self) -> tuple[int, Data | None, bool]:
        """The next piece for the hash: its index, its held memory (None: read it back), whether it was held."""
        index = self._next
        self._written.discard(index)
        data = self._held.pop(index, None)
        return index, data, data is not None

    def _hash_run(self, index: int, data: Data | None, from_held: bool, released: list[int],
                  reads: int | None) -> tuple[int, ...]:
        """Hash from ``index`` on while pieces are there. With ``reads`` set, stop before a read-back past that
        many: the rest is left for later calls, so no writer thread is tied up for a long run of read-backs
        while pieces queue up (a download that started mid-file reads back half the file once it wraps round)."""
        try:
            while True:
                if data is None:
                    if reads is not None:
                        reads -= 1
                    self.read_backs += 1
                    data = self._read_back(index)
                self._hash.update(data)
                if from_held:  # its buffer is free
                    on_hashed = self.on_hashed
                    if on_hashed is None:
                        released.append(index)
                    else:
                        on_hashed(index)
                with self._lock:
                    self._next = index + 1
                    if self._next not in self._written or (
                            reads is not None and reads <= 0 and self._next not in self._held):
                        self._busy = False
                        return tuple(released)
                    index, data, from_held = self._take_next()
        except BaseException:
            with self._lock:
                self._busy = False  # the piece is lost to the stream: ``digest`` stays None, the caller rehashes
            raise

    def digest(self) -> str | None:
        """The whole-file SHA-256 in hex once every piece is in the hash, else None."""
        with self._lock:
            if self._next < self.count or self._busy:
                return None
            return self._hash.hexdigest()

    def held(self) -> tuple[int, ...]:
        with self._lock:
            return tuple(self._held)

    def drop_held(self) -> None:
        """Forget the held buffers (their pieces will be read back if the hash ever goes on)."""
        with self._lock:
            self._held.clear()

    def reset(self, written: Iterable[int]) -> tuple[int, ...]:
        """Start again from the first piece (after a whole-file mismatch). Returns the pieces whose held buffers
        are free again. Call only while no ``add`` runs."""
        with self._lock:
            released = tuple(self._held)
            self._hash, self._next, self._held = hashlib.sha256(), 0, {}
            self._written = set(written)
            return released
