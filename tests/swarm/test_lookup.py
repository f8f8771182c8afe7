"""HolderLookup: a refusal-driven lookup right away (or once the gap since the last one has passed), one for all
the refusals meanwhile, and a growing gap while such lookups find nobody new."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Coroutine
from typing import Any

from peer_node.swarm.config import EngineConfig, SwarmSnapshot
from peer_node.swarm.lookup import HolderLookup
from peer_node.swarm.roster import Roster
from wire.records import SeederInfo

CONFIG = EngineConfig(refusal_refresh_gap=0.01, busy_refresh_interval=0.08)


def _holder(port: int) -> SeederInfo:
    return SeederInfo(f"u{port}", "127.0.0.1", port, "", None)


class Tracker:
    def __init__(self) -> None:
        self.listed = [_holder(1)]
        self.lookups = 0

    async def source(self) -> SwarmSnapshot:
        self.lookups += 1
        return SwarmSnapshot("token", list(self.listed))


async def _soon(lookup: HolderLookup) -> list[str]:
    """One ``soon``; waits for its lookup; returns what ``then`` saw."""
    tasks: list[asyncio.Task[None]] = []
    seen: list[str] = []

    def spawn(coro: Coroutine[Any, Any, None]) -> None:
        tasks.append(asyncio.get_running_loop().create_task(coro))

    lookup.soon(spawn, lambda: seen.append(lookup.token))
    lookup.soon(spawn, lambda: seen.append("again"))  # a second refusal meanwhile: no second lookup
    await asyncio.gather(*tasks)
    return seen


async def test_refusal_lookups_coalesce_back_off_while_they_find_nobody_and_reset_when_they_do() -> None:
    tracker = Tracker()
    roster = Roster(CONFIG, random.Random(1))
    lookup = HolderLookup(tracker.source, roster, CONFIG, "f.bin")
    await lookup.refresh()
    assert (tracker.lookups, lookup.token, set(roster.peers)) == (1, "token", {"127.0.0.1:1"})

    gaps = []
    for _ in range(4):
        assert await _soon(lookup) == ["token"]
        gaps.append(lookup.gap)
    assert tracker.lookups == 5
    assert gaps == [0.02, 0.04, 0.08, 0.08]  # nobody new: doubled each time, up to busy_refresh_interval

    tracker.listed.append(_holder(2))
    assert await _soon(lookup) == ["token"]
    assert set(roster.peers) == {"127.0.0.1:1", "127.0.0.1:2"}
    assert lookup.gap == 0.01  # it found somebody: back to refusal_refresh_gap


async def test_no_refusal_lookup_while_another_lookup_runs() -> None:
    tracker = Tracker()
    lookup = HolderLookup(tracker.source, Roster(CONFIG, random.Random(1)), CONFIG, "f.bin")
    lookup.running = True  # the periodic lookup is on its way: its answer will do
    assert await _soon(lookup) == []
    assert tracker.lookups == 0
    assert not lookup.due(1e9, busy=True)  # nor a periodic one on top of it
    lookup.running = False
    assert lookup.due(1e9, busy=True)
