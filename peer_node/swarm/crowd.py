"""Which piece requests a whole-file seeder refuses while a crowd downloads from it (pure: super-seeding).

Theory of operation: when several downloaders fetch one file from a seeder at the same time, every copy of a
piece the seeder sends beyond the first is upload the downloaders could have given each other. The ledger keeps,
per served file, which connected downloader was given (or is being sent) which piece. A request for a piece that
another connected downloader was given already is refused: the downloader then fetches it from that one as soon
as it announces the piece (HAVE), so the seeder's upload goes to pieces nobody has yet. Counting a piece at the
moment it is queued, not when it has arrived, is what stops two downloaders pulling the same piece at once.

Three rules keep this from costing anyone speed:
- a downloader alone on the file is never refused (a lone downloader gets the seeder's full speed);
- a downloader that asks again for a piece it was refused gets it (the client waits a moment before it asks
  again, see ``SeedRefusals``; if nobody gave it the piece meanwhile, the seeder does: never a stall);
- a downloader that disconnects takes its pieces out of the count (nobody can fetch them from it through us).

The downloader's side is ``SeedRefusals``: a refused piece is held back from that seeder for a moment.

A piece of several blocks is requested block by block; the decision is taken on its first block (``begin == 0``,
which a client sends first) and the piece's other blocks follow it. The server calls ``ask`` for every request
of a connection whose handshake it answered with a complete bitfield (a client treats only such a peer as a
seeder that may refuse; see ``engine.on_link_reject``). No I/O, no clock.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field

from peer_node.swarm.piece_mask import PieceMask, full_mask


@dataclass(slots=True)
class _Downloader:
    given: set[int] = field(default_factory=set)  # pieces it was given (or is being sent) by us
    refused: set[int] = field(default_factory=set)  # refused once and not asked again since


class CrowdLedger:
    """One per served file: who of the connected downloaders got which piece from us."""

    def __init__(self, piece_count: int, *, max_holders: int = 1) -> None:
        self.piece_count = piece_count
        self.max_holders = max_holders  # refuse once this many other connected downloaders were given the piece
        self.holders = [0] * piece_count  # connected downloaders given each piece
        self._peers: dict[Hashable, _Downloader] = {}

    def __len__(self) -> int:
        return len(self._peers)

    def join(self, peer: Hashable) -> None:
        self._peers.setdefault(peer, _Downloader())

    def leave(self, peer: Hashable) -> None:
        state = self._peers.pop(peer, None)
        if state is not None:
            for index in state.given:
                self.holders[index] -= 1

    def ask(self, peer: Hashable, index: int, begin: int = 0) -> bool:
        """True: serve this request; False: refuse it (REJECT). ``peer`` must have joined."""
        state = self._peers[peer]
        if begin > 0:  # a later block of a piece: same decision as its first block
            return index not in state.refused
        if index in state.refused:
            state.refused.discard(index)  # asked again: it could not get the piece elsewhere
        elif len(self._peers) > 1 and self.holders[index] - (index in state.given) >= self.max_holders:
            state.refused.add(index)
            return False
        if index not in state.given:
            state.given.add(index)
            self.holders[index] += 1
        return True


class SeedRefusals:
    """Pieces a whole-file seeder refused us a moment ago, for one link (pure; the caller passes ``now``).

    A seeder serving a crowd refuses a piece it already gave another downloader (``CrowdLedger``): we
    should fetch it from that downloader once it announces it. So for ``hold`` seconds the seeder is not asked
    for that piece again; after that it is (and then serves it: a piece nobody else gave us never stalls).
    """

    def __init__(self, piece_count: int, hold: float = 2.0) -> None:
        self.piece_count = piece_count
        self.hold = hold
        self._until: dict[int, float] = {}
        self._quiet_until = 0.0  # the latest end of a hold

    def refused(self, index: int, now: float) -> None:
        self._until[index] = now + self.hold
        self._quiet_until = max(self._quiet_until, now + self.hold)

    def active(self, now: float) -> bool:
        """Some refusal is still being held."""
        return now < self._quiet_until

    def allows(self, now: float) -> PieceMask:
        """What the seeder may be asked for now: every piece (None) unless some refusal is still held, else
        every piece but those (a mask, as the picker takes a peer's pieces)."""
        if not self.active(now):
            self._until.clear()
            return None
        refused = 0
        for index, until in self._until.items():
            if now < until:
                refused |= 1 << index
        return full_mask(self.piece_count) & ~refused
