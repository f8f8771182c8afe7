"""Which piece to ask a peer for next: rarest first, random among equals, duplicates only in the endgame (pure).

Theory of operation: every piece is *missing*, *in flight* (with a count of peers fetching it) or *done*. Missing
pieces sit in buckets by availability (how many connected peers have them); a bucket is a list plus a position
map, so moving a piece between buckets or taking it out is O(1) and a pick costs O(number of distinct
availabilities) for a peer holding everything. A pick scans the buckets from the rarest up and takes a random
piece of the first bucket the peer can serve (random probes first, then a scan from a random start, so partial
peers cost little too). When no missing piece is left that the peer has, the download is in its endgame: the
peer may get a piece already in flight elsewhere (fewest fetchers first, at most ``max_duplicates`` fetchers), and
whoever delivers first wins; the caller cancels the others. No I/O and no clock: the engine feeds it events.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Container, Iterable

HasPiece = Callable[[int], bool] | None  # None: the peer has every piece

MISSING, IN_FLIGHT, DONE = 0, 1, 2
_STATE_CHARS = {MISSING: ".", IN_FLIGHT: "f", DONE: "d"}


class PiecePicker:
    def __init__(self, piece_count: int, done: Iterable[int] = (), *, rng: random.Random | None = None,
                 max_duplicates: int = 2, window: int = 0) -> None:
        self.count = piece_count
        self.rng = rng or random.Random()
        self.window = window
        # The window scans from a random home piece, wrapping: each downloader of a crowd works its own region
        # (so the original seeder is not asked for the same pieces by everyone) yet fills it front to back.
        self._home = self.rng.randrange(piece_count) if piece_count else 0
        self._cursor = 0  # no missing piece at a position (index - home) % count below this
        self.max_duplicates = max_duplicates
        self.availability = [0] * piece_count
        self.state = [MISSING] * piece_count
        self.fetchers = [0] * piece_count
        self._buckets: dict[int, list[int]] = {0: []}
        self._pos = [0] * piece_count  # index of each missing piece inside its bucket list
        self.in_flight: set[int] = set()
        self.missing_unassigned = 0  # pieces no peer is fetching yet
        self.arrived: set[int] = set()  # in flight, all bytes here, being verified: no duplicate needed
        self.done_count = 0
        for index in done:
            self.state[index] = DONE
            self.done_count += 1
        for index in range(piece_count):
            if self.state[index] == MISSING:
                self._bucket_add(index)

    # --- bucket plumbing ------------------------------------------------------------------------------------
    def _bucket_add(self, index: int) -> None:
        bucket = self._buckets.setdefault(self.availability[index], [])
        position = (index - self._home) % self.count
        if position < self._cursor:
            self._cursor = position
        self._pos[index] = len(bucket)
        bucket.append(index)
        self.missing_unassigned += 1

    def _bucket_remove(self, index: int) -> None:
        avail = self.availability[index]
        bucket = self._buckets[avail]
        pos = self._pos[index]
        last = bucket.pop()
        if last != index:
            bucket[pos] = last
            self._pos[last] = pos
        if not bucket and avail:
            del self._buckets[avail]
        self.missing_unassigned -= 1

    # --- availability ---------------------------------------------------------------------------------------
    def add_peer(self, has: HasPiece) -> None:
        """A peer connected; ``has`` tells its pieces (None for a full seeder)."""
        for index in range(self.count):
            if has is None or has(index):
                self._change_availability(index, +1)

    def remove_peer(self, has: HasPiece) -> None:
        for index in range(self.count):
            if has is None or has(index):
                self._change_availability(index, -1)

    def peer_got(self, index: int) -> None:
        """A connected peer announced a new piece (HAVE)."""
        self._change_availability(index, +1)

    def peer_lost(self, index: int) -> None:
        """A connected peer turned out not to have ``index`` after all (it rejected our request)."""
        self._change_availability(index, -1)

    def _change_availability(self, index: int, delta: int) -> None:
        if self.state[index] == MISSING:
            self._bucket_remove(index)
            self.availability[index] = max(0, self.availability[index] + delta)
            self._bucket_add(index)
        else:
            self.availability[index] = max(0, self.availability[index] + delta)

    # --- picking --------------------------------------------------------------------------------------------
    @property
    def complete(self) -> bool:
        return self.done_count == self.count

    def pick(self, has: HasPiece, exclude: Container[int] = frozenset(),
             max_availability: int | None = None) -> int | None:
        """The piece to fetch next from a peer, or None. Marks it in flight; report the outcome with
        ``completed`` or ``abandoned``. ``max_availability`` skips pieces more peers than that hold (the engine
        keeps a whole-file seeder for pieces only seeders have while other downloaders can serve the rest)."""
        index = self._pick_missing(has, max_availability)
        if index is None:
            if self.missing_unassigned:
                return None  # not the endgame yet: other peers will fetch what this one lacks
            index = self._pick_endgame(has, exclude)
            if index is None:
                return None
        else:
            self._bucket_remove(index)
            self.state[index] = IN_FLIGHT
            self.in_flight.add(index)
        self.fetchers[index] += 1
        return index

    def _pick_missing(self, has: HasPiece, max_availability: int | None = None) -> int | None:
        for avail, bucket in sorted(self._buckets.items()):
            if max_availability is not None and avail > max_availability:
                break
            if bucket:
                candidate = self._random_in(bucket, has)
                if candidate is not None:
                    if self.window and len(bucket) > self.window:
                        local = self._lowest_in_window(avail, has)
                        return candidate if local is None else local
                    return candidate
        return None

    def _random_in(self, bucket: list[int], has: HasPiece) -> int | None:
        rng, size = self.rng, len(bucket)
        if has is None:
            return bucket[rng.randrange(size)]
        for _ in range(8):
            candidate = bucket[rng.randrange(size)]
            if has(candidate):
                return candidate
        start = rng.randrange(size)
        for step in range(size):
            candidate = bucket[(start + step) % size]
            if has(candidate):
                return candidate
        return None

    def _lowest_in_window(self, avail: int, has: HasPiece) -> int | None:
        """Random among the first ``window`` equally rare pieces the peer has, counting from the home piece: still
        a random tie-break, but with locality, so the file fills in long runs (the whole-file hash streams along
        and disk writes stay near-sequential). The scan is bounded; None sends the caller to a random pick."""
        state, availability, home, count = self.state, self.availability, self._home, self.count
        while self._cursor < count and state[(home + self._cursor) % count] != MISSING:
            self._cursor += 1
        found: list[int] = []
        position, limit = self._cursor, min(count, self._cursor + 8 * self.window + 64)
        while position < limit and len(found) < self.window:
            index = (home + position) % count
            if state[index] == MISSING and availability[index] == avail and (has is None or has(index)):
                found.append(index)
            position += 1
        return self.rng.choice(found) if found else None

    def _pick_endgame(self, has: HasPiece, exclude: Container[int]) -> int | None:
        best: list[int] = []
        best_fetchers = self.max_duplicates
        for index in self.in_flight:
            fetchers = self.fetchers[index]
            if (fetchers > best_fetchers or index in exclude or index in self.arrived
                    or (has is not None and not has(index))):
                continue
            if fetchers < best_fetchers:
                best, best_fetchers = [index], fetchers
            elif fetchers < self.max_duplicates:
                best.append(index)
        return self.rng.choice(best) if best else None

    # --- outcomes -------------------------------------------------------------------------------------------
    def arrived_whole(self, index: int) -> None:
        """Every byte of ``index`` arrived from one fetcher and is being verified."""
        if self.state[index] == IN_FLIGHT:
            self.arrived.add(index)

    def completed(self, index: int) -> None:
        """Piece ``index`` is verified and written (by any of its fetchers)."""
        if self.state[index] == DONE:
            return
        if self.state[index] == MISSING:
            self._bucket_remove(index)
        self.in_flight.discard(index)
        self.arrived.discard(index)
        self.state[index] = DONE
        self.fetchers[index] = 0
        self.done_count += 1

    def abandoned(self, index: int) -> None:
        """One fetcher of ``index`` gave up (peer lost, bad hash, cancelled duplicate)."""
        if self.state[index] != IN_FLIGHT:
            return
        self.fetchers[index] = max(0, self.fetchers[index] - 1)
        self.arrived.discard(index)  # a failed copy: duplicates are welcome again
        if self.fetchers[index] == 0:
            self.in_flight.discard(index)
            self.state[index] = MISSING
            self._bucket_add(index)

    def states(self) -> str:
        """One character a piece: ``d`` done, ``f`` in flight, ``.`` missing."""
        return "".join(_STATE_CHARS[s] for s in self.state)
