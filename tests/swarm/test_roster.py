"""The download's peer roster: whom to connect to next, in what order, and the back-off after a failure."""

from __future__ import annotations

import random

from peer_node.swarm.config import EngineConfig
from peer_node.swarm.roster import Roster
from wire.records import SeederInfo


def info(port: int, pieces: bytes | None = None) -> SeederInfo:
    return SeederInfo(f"u{port}", "127.0.0.1", port, "", pieces)


def roster(max_peers: int = 8) -> Roster:
    return Roster(EngineConfig(max_peers=max_peers, retry_delay=1.0, max_retry_delay=5.0), random.Random(0))


def test_merge_adds_new_peers_and_refreshes_known_ones() -> None:
    r = roster()
    r.merge([info(1, b"\x80"), info(2)])
    first = r.get("127.0.0.1:1")
    r.merge([info(1, b"\xc0")])
    assert r.get("127.0.0.1:1") is first and first is not None and first.info.pieces == b"\xc0"
    assert set(r.peers) == {"127.0.0.1:1", "127.0.0.1:2"}


def test_the_most_useful_come_first_within_max_peers() -> None:
    r = roster(max_peers=2)
    r.merge([info(1, b"\x80"), info(2), info(3, b"\xc0")])
    usefulness = {1: 1, 2: 8, 3: 2}
    chosen = r.to_connect(0.0, lambda i: usefulness[i.port])
    assert [p.info.port for p in chosen] == [2, 3]


def test_banned_busy_and_waiting_peers_are_not_chosen() -> None:
    r = roster()
    r.merge([info(1), info(2), info(3), info(4)])
    r.peers["127.0.0.1:1"].banned = True
    r.peers["127.0.0.1:2"].connecting = True
    delay = r.backoff(r.peers["127.0.0.1:3"], "refused", now=10.0)
    assert [p.info.port for p in r.to_connect(10.0, lambda i: 1)] == [4]
    assert sorted(p.info.port for p in r.to_connect(10.0 + delay, lambda i: 1)) == [3, 4]


def test_connections_in_progress_count_against_max_peers() -> None:
    r = roster(max_peers=2)
    r.merge([info(1), info(2), info(3)])
    r.peers["127.0.0.1:1"].connecting = True
    assert len(r.to_connect(0.0, lambda i: 1)) == 1


def test_backoff_doubles_up_to_its_cap() -> None:
    r = roster()
    r.merge([info(1)])
    peer = r.peers["127.0.0.1:1"]
    delays = [r.backoff(peer, "refused", now=0.0) for _ in range(5)]
    assert delays == [1.0, 2.0, 4.0, 5.0, 5.0]
    assert peer.next_try == 5.0 and peer.last_error == "refused" and peer.failures == 5
