"""Which piece to ask a peer for next: rarest first, lowest among equals, duplicates only in the endgame (pure).

Theory of operation: every piece is *missing*, *in flight* (with a count of peers fetching it) or *done*. Missing
pieces sit in buckets by availability (how many connected peers have them); a bucket is a list plus a position
map, so moving a piece between buckets or taking it out is O(1) and a pick costs O(number of distinct
availabilities) for a peer holding everything. A pick scans the buckets from the rarest up and takes, from the
first bucket the peer can serve, its lowest-numbered piece near the front of what is missing (with a
``window``: the file fills front to back, as the whole-file hash wants), else a random one (random probes
first, then a scan from a random start, so partial peers cost little too). When no missing piece is left that
the peer has, the download is in its endgame: the peer may get a piece already in flight elsewhere (fewest
fetchers first, at most ``max_duplicates`` fetchers), and whoever delivers first wins; the caller cancels the
others. No I/O and no clock: the engine feeds it events.
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
        self._cursor = 0  # no missing piece below this index
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
        if index < self._cursor:
            self._cursor = index
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
                local = self._lowest(bucket, avail, has) if self.window else None
                candidate = local if local is not None else self._random_in(bucket, has)
                if candidate is not None:
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

    def _lowest(self, bucket: list[int], avail: int, has: HasPiece) -> int | None:
        """The lowest-numbered missing piece of availability ``avail`` (``bucket``) the peer has: looked for
        among the bucket itself when it holds at most ``window`` pieces, else by a bounded scan from the first
        missing piece. Lowest, not random among the first ``window`` such pieces as before: the whole-file
        SHA-256 is streamed in file order, and a piece left behind holds it up (random among 32, a piece waited
        about 32 picks, and most pieces were read back from disk instead of hashed from memory). A crowd's
        downloaders still spread out: rarest first, and the seeder refuses a piece it just gave one of them to
        the others (``crowd``). None sends the caller to a random pick."""
        if len(bucket) <= self.window:
            return min((i for i in bucket if has is None or has(i)), default=None)
        state, availability, count = self.state, self.availability, self.count
        while self._cursor < count and state[self._cursor] != MISSING:
            self._cursor += 1
        index, limit = self._cursor, min(count, self._cursor + 8 * self.window + 64)
        while index < limit:
            if state[index] == MISSING and availability[index] == avail and (has is None or has(index)):
                return index
            index += 1
        return None

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
