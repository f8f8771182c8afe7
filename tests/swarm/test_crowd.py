"""Spreading a crowd: the seeder's refusal rules (CrowdLedger) and the downloader's hold on refusals (pure)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path

from peer_node.swarm import DownloadEngine, EngineConfig, PieceStore, SwarmSnapshot
from peer_node.swarm.crowd import CrowdLedger, SeedRefusals
from tests.swarm.helpers import Seeder, file_sha256, make_file, meta_of, start_seeder, token_for


def test_a_lone_downloader_is_never_refused() -> None:
    ledger = CrowdLedger(8)
    ledger.join("a")
    assert all(ledger.ask("a", i) for i in range(8))
    assert all(ledger.ask("a", i) for i in range(8))  # asking again (a piece failed its hash): served too


def test_a_piece_given_to_one_downloader_is_refused_to_another() -> None:
    ledger = CrowdLedger(8)
    ledger.join("a")
    ledger.join("b")
    assert ledger.ask("a", 3)
    assert not ledger.ask("b", 3)  # a has it (or is getting it): b should fetch it from a
    assert ledger.ask("b", 4)  # a piece nobody was given goes out
    assert not ledger.ask("a", 4)


def test_pieces_given_before_a_second_downloader_came_count_too() -> None:
    ledger = CrowdLedger(4)
    ledger.join("a")
    assert ledger.ask("a", 0)
    ledger.join("b")
    assert not ledger.ask("b", 0)
    assert ledger.ask("b", 1)


def test_a_refused_piece_is_served_when_asked_again() -> None:
    ledger = CrowdLedger(4)
    for peer in "ab":
        ledger.join(peer)
    assert ledger.ask("a", 2)
    assert not ledger.ask("b", 2)
    assert ledger.ask("b", 2)  # b waited and nobody gave it the piece: never a stall
    ledger.join("c")
    assert not ledger.ask("c", 2)  # two holders now; c's first ask is refused like b's


def test_later_blocks_of_a_piece_follow_its_first_block() -> None:
    ledger = CrowdLedger(4)
    for peer in "ab":
        ledger.join(peer)
    assert ledger.ask("a", 1, begin=0) and ledger.ask("a", 1, begin=16384)
    assert not ledger.ask("b", 1, begin=0)
    assert not ledger.ask("b", 1, begin=16384)  # the rest of the refused piece's blocks, sent along
    assert ledger.ask("b", 1, begin=0)  # asked again later: served, all its blocks
    assert ledger.ask("b", 1, begin=16384)


def test_a_downloader_that_leaves_no_longer_counts_as_a_holder() -> None:
    ledger = CrowdLedger(4)
    for peer in "abc":
        ledger.join(peer)
    assert ledger.ask("a", 0)
    ledger.leave("a")
    assert ledger.holders[0] == 0
    assert ledger.ask("b", 0)
    assert not ledger.ask("c", 0)
    ledger.leave("c")
    assert len(ledger) == 1
    assert ledger.ask("b", 1)


def test_a_downloader_asking_again_for_its_own_piece_is_served_when_nobody_else_has_it() -> None:
    ledger = CrowdLedger(4)
    for peer in "ab":
        ledger.join(peer)
    assert ledger.ask("a", 0)
    assert ledger.ask("a", 0)  # its copy failed its hash: b never got piece 0, so no one else can give it
    assert ledger.holders[0] == 1


def test_more_holders_allowed_before_refusing() -> None:
    ledger = CrowdLedger(2, max_holders=2)
    for peer in "abc":
        ledger.join(peer)
    assert ledger.ask("a", 0) and ledger.ask("b", 0)
    assert not ledger.ask("c", 0)


def test_refused_pieces_are_held_back_then_allowed_again() -> None:
    refusals = SeedRefusals(8, hold=2.0)
    assert refusals.allows(10.0) is None  # nothing refused: the seeder may be asked for anything
    refusals.refused(5, now=10.0)
    assert refusals.allows(10.5) == 0b1101_1111  # every piece of the 8 but piece 5
    assert refusals.active(11.9)
    later = refusals.allows(12.1)
    assert later is None and not refusals.active(12.1)


def test_each_refusal_is_held_for_its_own_time() -> None:
    refusals = SeedRefusals(3, hold=1.0)
    refusals.refused(1, now=0.0)
    refusals.refused(2, now=0.8)
    assert refusals.allows(1.2) == 0b011  # piece 1's hold is over, piece 2's is not


# --- over real sockets on 127.0.0.1: one sharer, downloaders that also serve what they verified ------------------

PIECE = 16 * 1024
FAST = EngineConfig(refresh_interval=0.3, no_peer_timeout=5.0, connect_timeout=2.0, retry_delay=0.1)


async def _crowd(tmp_path: Path, names: list[str], *, mutual: bool, late: bool = False,
                 config: EngineConfig = FAST) -> tuple[Seeder, dict[str, DownloadEngine]]:
    """Every downloader starts together; with ``mutual`` each is told of the others (as the tracker would;
    with ``late`` only from its second lookup on, as when they had not heartbeated yet), else each knows only the
    sharer. Returns the sharer (still open) and the finished engines."""
    data = make_file(tmp_path / "src.bin", 2 * 1024 * 1024)
    meta = meta_of("src.bin", data, PIECE)
    sharer = await start_seeder("sharer", [PieceStore.open_complete(tmp_path / "src.bin", meta)])
    stores = {n: PieceStore.open_partial(tmp_path / f"{n}.part", tmp_path / f"{n}.state", meta) for n in names}
    nodes = {n: await start_seeder(n, [stores[n]]) for n in names}  # each serves what it has verified

    def source(me: str) -> Callable[[], Awaitable[SwarmSnapshot]]:
        lookups = 0

        async def snapshot() -> SwarmSnapshot:
            nonlocal lookups
            lookups += 1
            listed = mutual and not (late and lookups == 1)
            others = [nodes[n].live_info(meta.sha256) for n in names if n != me] if listed else []
            return SwarmSnapshot(token_for(meta.sha256, me), [sharer.info(), *others])
        return snapshot

    engines = {n: DownloadEngine(meta, stores[n], source(n), config=config) for n in names}
    try:
        await asyncio.wait_for(asyncio.gather(*(e.run() for e in engines.values())), 60)
        for n in names:
            assert file_sha256(await stores[n].finish(tmp_path / f"{n}.bin")) == meta.sha256
    except BaseException:
        await sharer.close()
        raise
    finally:
        for n in names:
            stores[n].close()
            await nodes[n].close()
    return sharer, engines


async def test_downloaders_of_a_crowd_get_pieces_from_each_other(tmp_path: Path) -> None:
    names = ["d1", "d2", "d3", "d4"]
    sharer, engines = await _crowd(tmp_path, names, mutual=True)
    try:
        size = 2 * 1024 * 1024
        assert sharer.server.crowd_refusals > 0
        for name, engine in engines.items():
            by_peer = engine.progress().bytes_by_peer
            assert sum(by_peer.values()) == size
            assert set(by_peer) - {"sharer"}, f"{name} got nothing from the other downloaders: {by_peer}"
        # Each piece leaves the sharer about once (without spreading: 1.8 copies here, up to 4).
        assert sharer.server.bytes_sent_total < 1.5 * size
    finally:
        await sharer.close()


async def test_a_refused_downloader_that_knows_no_other_holder_still_completes(tmp_path: Path) -> None:
    """Each knows only the sharer, which refuses what the other got: the refused pieces come after the hold."""
    sharer, engines = await _crowd(tmp_path, ["d1", "d2"], mutual=False)
    try:
        assert sharer.server.crowd_refusals > 0
        assert all(e.progress().bytes_by_peer == {"sharer": 2 * 1024 * 1024} for e in engines.values())
    finally:
        await sharer.close()


async def test_a_refusal_sends_the_downloader_back_to_the_tracker_at_once(tmp_path: Path) -> None:
    """The first lookup lists only the sharer, which then refuses each downloader what the other got. The
    periodic lookup is a minute away here: a refusal for a piece none of our links has is what makes the engine
    look again at once, find the other downloader, and fetch those pieces from it."""
    slow = replace(FAST, refresh_interval=60.0, busy_refresh_interval=60.0)
    sharer, engines = await _crowd(tmp_path, ["d1", "d2"], mutual=True, late=True, config=slow)
    try:
        assert sharer.server.crowd_refusals > 0
        givers = {name: set(engine.progress().bytes_by_peer) for name, engine in engines.items()}
        assert givers["d1"] | givers["d2"] == {"sharer", "d1", "d2"}, givers  # they found each other
    finally:
        await sharer.close()
