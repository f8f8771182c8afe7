"""A link's depth (pieces in flight) against simulated links: no sockets, the engine's tick played by a loop.

The simulated link: with ``depth`` pieces of ``P`` bytes in flight, a round trip of ``rtt`` and a capacity of ``C``
bytes/s, each piece takes ``rtt + P / C`` from its request to its last byte, so the link delivers
``min(C, depth * P / (rtt + P / C))``: what the engine measures each tick and hands to ``measure``.
"""

from __future__ import annotations

import math

import pytest

from peer_node.swarm.config import EngineConfig
from peer_node.swarm.peer_link import PeerLink, PieceJob, depth_for
from wire.peer_session import Geometry
from wire.records import SeederInfo

PIECE = 2 << 20  # what a file of 4 MiB to 4 GiB gets (wire.pieces.piece_size_for)
TARGET = EngineConfig().latency_target


class _NoHandler:
    def on_link_piece(self, *args: object) -> None: ...
    def on_link_reject(self, *args: object) -> None: ...
    def on_link_have(self, *args: object) -> None: ...
    def on_link_lost(self, *args: object) -> None: ...


def delivered(depth: int, rtt: float, capacity: float) -> float:
    return min(capacity, depth * PIECE / (rtt + PIECE / capacity))


def with_in_flight(link: PeerLink, count: int) -> None:
    """``count`` pieces requested on ``link`` (only their number counts here)."""
    link.jobs = {i: PieceJob(i, PIECE, memoryview(b""), link, 0.0) for i in range(count)}


async def settled_depth(rtt: float, capacity: float, max_depth: int, ticks: int = 40) -> PeerLink:
    """A link of that round trip (as ``PeerLink.open`` measures it) after ``ticks`` of the engine's measuring."""
    link = PeerLink(SeederInfo("s", "127.0.0.1", 9, "", None), Geometry(1 << 30, PIECE), _NoHandler(),
                    block_size=1 << 20)
    link.set_depth_limits(PIECE, max_depth)
    link.max_depth = max_depth  # past the request cap too: what the controller alone would ask for
    link.rtt = rtt
    for _ in range(ticks):
        link.measure(delivered(link.depth, rtt, capacity), TARGET, PIECE)
    return link


@pytest.mark.parametrize("rtt", [0.05, 0.15, 0.3])
@pytest.mark.parametrize("capacity", [12.5e6, 125e6])  # 100 Mbit/s, 1 Gbit/s
async def test_a_distant_link_gets_the_depth_of_its_bandwidth_delay_product(rtt: float, capacity: float) -> None:
    link = await settled_depth(rtt, capacity, max_depth=1000)
    assert link.depth * PIECE >= capacity * rtt  # what is on the way over one round trip
    assert delivered(link.depth, rtt, capacity) == capacity  # so the link runs full


@pytest.mark.parametrize("rtt", [0.15, 0.3])
async def test_a_distant_fast_link_reaches_its_depth_within_a_few_ticks(rtt: float) -> None:
    link = await settled_depth(rtt, 125e6, max_depth=1000, ticks=3)  # 1.5 s of the engine's 0.5 s ticks
    assert link.depth * PIECE >= 125e6 * rtt


async def test_a_distant_fast_link_is_held_only_by_max_depth() -> None:
    link = await settled_depth(0.3, 125e6, max_depth=16)
    assert link.depth == 16


async def test_on_loopback_the_depth_stays_what_the_latency_target_alone_gives() -> None:
    capacity, rtt = 1e9, 50e-6
    link = await settled_depth(rtt, capacity, max_depth=10_000, ticks=200)
    alone = math.ceil(capacity * TARGET / PIECE) + 1  # the old rule, with the link running full
    assert alone <= link.depth <= alone + 1  # not growing on its own: the link's capacity holds it
    assert link.depth == (await settled_depth(rtt, capacity, max_depth=10_000, ticks=400)).depth


def test_depth_counts_the_round_trip_and_the_latency_target() -> None:
    assert depth_for(10e6, 0.3, 0.25, 1_000_000, 100) == math.ceil(10e6 * 0.55 / 1e6) + 1
    assert depth_for(0.0, 0.3, 0.25, 1_000_000, 100) == 2  # nothing measured yet: two pieces
    assert depth_for(1e9, 0.3, 0.25, 1_000_000, 16) == 16


async def test_a_lazy_refill_never_waits_below_a_round_trip_of_pieces() -> None:
    link = await settled_depth(0.3, 12.5e6, max_depth=16)  # 100 Mbit/s, 300 ms: 1.8 pieces a round trip
    assert link.pipe == 3 and link.depth == 5
    with_in_flight(link, 4)
    assert not link.refill_due()
    with_in_flight(link, 3)
    assert link.refill_due()  # half the depth (2) would leave one round trip's pieces and nothing to spare


async def test_on_loopback_a_lazy_refill_still_waits_for_half_the_depth() -> None:
    link = await settled_depth(50e-6, 1e9, max_depth=16)
    assert link.depth == 16
    with_in_flight(link, 9)
    assert not link.refill_due()
    with_in_flight(link, 8)
    assert link.refill_due()
