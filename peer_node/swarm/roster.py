"""The peers a download may connect to: what the tracker listed, each one's state, and when to try it again.

Pure bookkeeping for ``engine.DownloadEngine`` (no sockets, no clock of its own: ``now`` is passed in). The engine
opens the links; the roster says who is worth a connection next, in what order, and how long a peer that failed
waits before the next try (exponential back-off, capped).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from peer_node.swarm.config import EngineConfig
from peer_node.swarm.peer_link import PeerLink
from wire.records import SeederInfo


@dataclass(eq=False)
class Peer:
    info: SeederInfo
    link: PeerLink | None = None
    connecting: bool = False
    strikes: int = 0
    banned: bool = False
    failures: int = 0
    next_try: float = 0.0
    last_error: str = ""
    seed: bool = field(default=False)  # counted in the picker as holding everything

    @property
    def linked(self) -> bool:
        return self.link is not None and not self.link.closed


class Roster:
    def __init__(self, config: EngineConfig, rng: random.Random) -> None:
        self.config, self.rng = config, rng
        self.peers: dict[str, Peer] = {}

    def merge(self, listed: Sequence[SeederInfo]) -> None:
        """Take the tracker's latest list: new peers join, known ones get their fresh holdings."""
        for info in listed:
            peer = self.peers.get(info.addr)
            if peer is None:
                self.peers[info.addr] = Peer(info)
            else:
                peer.info = info

    def get(self, addr: str) -> Peer | None:
        return self.peers.get(addr)

    def links(self) -> list[PeerLink]:
        return [p.link for p in self.peers.values() if p.link is not None and not p.link.closed]

    def is_seed(self, link: PeerLink) -> bool:
        """Whether ``link`` is to a whole-file seeder (its peer is counted in the picker as holding everything)."""
        peer = self.peers.get(link.addr)
        return peer is not None and peer.seed

    def seed_links(self) -> int:
        return sum(1 for link in self.links() if self.is_seed(link))

    def partials_serving(self, now: float) -> bool:
        """Whether some other downloader (a partial holder) serves us, or was linked too lately to tell."""
        return any(not self.is_seed(link) and (link.rate > 0 or now - link.connected_at < 2.0)
                   for link in self.links())

    def banned(self) -> list[Peer]:
        return [p for p in self.peers.values() if p.banned]

    def to_connect(self, now: float, usefulness: Callable[[SeederInfo], int]) -> list[Peer]:
        """Who to connect to now, within ``max_peers``: the most useful first (whole-file seeders), ties shuffled
        so that downloaders of one crowd spread over different peers."""
        active = sum(1 for p in self.peers.values() if p.connecting or p.linked)
        candidates = [p for p in self.peers.values()
                      if not p.banned and not p.connecting and not p.linked and p.next_try <= now]
        self.rng.shuffle(candidates)
        candidates.sort(key=lambda p: -usefulness(p.info))
        return candidates[:max(0, self.config.max_peers - active)]

    def last_errors(self, limit: int = 3) -> str:
        """Why the peers that failed last did: "user: reason; ..." (the most recent ``limit``), for a failure's
        message."""
        failed = sorted((p for p in self.peers.values() if p.last_error and not p.linked),
                        key=lambda p: -p.next_try)[:limit]
        return "; ".join(f"{p.info.user_id}: {' '.join(p.last_error.split())[:120]}" for p in failed)

    def backoff(self, peer: Peer, reason: str, now: float) -> float:
        """Record a failed connection; return the seconds until ``peer`` may be tried again."""
        peer.failures += 1
        peer.last_error = reason
        delay = min(self.config.max_retry_delay, self.config.retry_delay * 2.0 ** (peer.failures - 1))
        peer.next_try = now + delay
        return delay
