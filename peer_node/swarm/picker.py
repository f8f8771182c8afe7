"""Which piece to ask a peer for next: rarest first, lowest among equals, duplicates only in the endgame (pure).

Theory of operation: every piece is *missing*, *in flight* (with a count of peers fetching it) or *done*. Missing
pieces sit in buckets by availability (how many connected peers have them); a bucket is a list plus a position map
(a uniform random choice for a peer holding everything) and an int mask of the same pieces (``piece_mask``: bit i =
piece i). A peer's pieces are a mask too, or None for a whole-file seeder. Moving a piece between buckets is O(1)
list work plus a bit set and cleared. A pick goes through the buckets from the rarest up; in each, the pieces this
peer can serve are ``bucket_mask & peer_mask``, a few big-int operations whatever the piece count (no Python call
per piece). From the first bucket where that is not empty it takes the lowest-numbered piece near the front of what
is missing (with a ``window``: the file fills front to back), else a random one. When no missing piece is left that
the peer has, the download is in its endgame: the peer may get a piece already in flight elsewhere (fewest fetchers
first, at most ``max_duplicates`` fetchers), and whoever delivers first wins; the caller cancels the others. No I/O
and no clock: the engine feeds it events.
"""

from __future__ import annotations

import random
from collections.abc import Container, Iterable

from peer_node.swarm.piece_mask import PieceMask, full_mask, lowest_bit, set_bits

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
        self._masks: dict[int, int] = {0: 0}  # availability -> the pieces of that bucket, as a mask
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
        avail = self.availability[index]
        bucket = self._buckets.setdefault(avail, [])
        if index < self._cursor:
            self._cursor = index
        self._pos[index] = len(bucket)
        bucket.append(index)
        self._masks[avail] = self._masks.get(avail, 0) | 1 << index
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
            del self._buckets[avail], self._masks[avail]
        else:
            self._masks[avail] ^= 1 << index  # the bit is set: the piece was in this bucket
        self.missing_unassigned -= 1

    # --- availability ---------------------------------------------------------------------------------------
    def add_peer(self, mask: PieceMask) -> None:
        """A peer connected; ``mask`` holds its pieces (None for a full seeder)."""
        for index in self._pieces_of(mask):
            self._change_availability(index, +1)

    def remove_peer(self, mask: PieceMask) -> None:
        """A peer went away; ``mask`` holds its pieces as they stood (HAVEs in, rejected pieces out)."""
        for index in self._pieces_of(mask):
            self._change_availability(index, -1)

    def _pieces_of(self, mask: PieceMask) -> Iterable[int]:
        return range(self.count) if mask is None else set_bits(mask & full_mask(self.count))

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

    def pick(self, mask: PieceMask, exclude: Container[int] = frozenset(),
             max_availability: int | None = None) -> int | None:
        """The piece to fetch next from a peer holding ``mask`` (None: every piece), or None. Marks it in flight;
        report the outcome with ``completed`` or ``abandoned``. ``max_availability`` skips pieces more peers than
        that hold (the engine keeps a whole-file seeder for pieces only seeders have while other downloaders can
        serve the rest)."""
        index = self._pick_missing(mask, max_availability)
        if index is None:
            if self.missing_unassigned:
                return None  # not the endgame yet: other peers will fetch what this one lacks
            index = self._pick_endgame(mask, exclude)
            if index is None:
                return None
        else:
            self._bucket_remove(index)
            self.state[index] = IN_FLIGHT
            self.in_flight.add(index)
        self.fetchers[index] += 1
        return index

    def _pick_missing(self, mask: PieceMask, max_availability: int | None = None) -> int | None:
        for avail, bucket in sorted(self._buckets.items()):
            if max_availability is not None and avail > max_availability:
                break
            servable = self._masks[avail] if mask is None else self._masks[avail] & mask
            if servable:
                local = self._lowest(servable, len(bucket)) if self.window else None
                return local if local is not None else self._random_in(bucket, servable, mask)
        return None

    def _random_in(self, bucket: list[int], servable: int, mask: PieceMask) -> int:
        """A random piece of ``servable`` (not empty), the pieces of ``bucket`` the peer has."""
        if mask is None:  # the whole bucket: uniform, from the list
            return bucket[self.rng.randrange(len(bucket))]
        # The first servable piece from a random position on, wrapping round: a shift and a lowest-bit read
        # whatever the piece count. Not uniform: a piece after a long run of unservable ones is likelier (the
        # probes-then-scan this replaces was nearly uniform when the peer had much of the bucket). With a window
        # it only decides for pieces far down the file, and it still spreads a crowd's picks out.
        start = self.rng.randrange(self.count)
        above = servable >> start
        return start + lowest_bit(above) if above else lowest_bit(servable)

    def _lowest(self, servable: int, bucket_size: int) -> int | None:
        """The lowest-numbered piece of ``servable`` (missing pieces of one availability the peer has), if the
        bucket holds at most ``window`` pieces or that piece lies within ``8 * window + 64`` of the first missing
        piece; None sends the caller to a random pick. That bound once capped a per-piece scan's cost; masks make
        it free, but it is kept so that picks stay what they were (a change of policy would want a crowd bench).
        Lowest, not random among the first ``window`` such pieces: chosen when the downloader streamed a
        whole-file SHA-256 in file order, which a piece left behind held up; each piece now checks alone (the
        SHA-256 chain), and the order is kept as it was (a change of policy would want a crowd bench). A crowd's
        downloaders still spread out: rarest first, and the seeder refuses a piece it just gave one of them to
        the others (``crowd``)."""
        index = lowest_bit(servable)
        if bucket_size <= self.window:
            return index
        state, count = self.state, self.count
        while self._cursor < count and state[self._cursor] != MISSING:  # amortised: it only moves back on abandon
            self._cursor += 1
        return index if index < self._cursor + 8 * self.window + 64 else None

    def _pick_endgame(self, mask: PieceMask, exclude: Container[int]) -> int | None:
        best: list[int] = []
        best_fetchers = self.max_duplicates
        for index in self.in_flight:
            fetchers = self.fetchers[index]
            if (fetchers > best_fetchers or index in exclude or index in self.arrived
                    or (mask is not None and not mask >> index & 1)):
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
