"""Downloads over real sockets on 127.0.0.1 from in-process seeders (issue 3's swarm behaviours)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from peer_node.swarm import DownloadEngine, DownloadFailed, EngineConfig, PieceStore, SwarmSnapshot
from peer_node.swarm.buffers import receive_buffers
from peer_node.swarm.errors import CorruptSources
from tests.swarm.helpers import (
    corrupt_copy,
    file_sha256,
    make_file,
    meta_of,
    seeders_and_partial,
    start_seeder,
    static_source,
    token_for,
)
from wire.records import SeederInfo

PIECE = 16 * 1024
FAST = EngineConfig(refresh_interval=0.3, no_peer_timeout=3.0, connect_timeout=2.0, retry_delay=0.1)


async def test_download_from_three_seeders_uses_every_seeder(tmp_path: Path) -> None:
    meta, seeders, store = await seeders_and_partial(tmp_path, 3 * 1024 * 1024 + 123, PIECE, 3)
    try:
        engine = DownloadEngine(meta, store, static_source(token_for(meta.sha256), [s.info() for s in seeders]),
                                config=FAST)
        await engine.run()
        final = await store.finish(tmp_path / "out.bin")
        assert file_sha256(final) == meta.sha256
        by_peer = engine.progress().bytes_by_peer
        assert set(by_peer) == {"seed0", "seed1", "seed2"}
        assert sum(by_peer.values()) == meta.size
        assert all(s.server.bytes_sent_total > 0 for s in seeders)
        assert engine.progress().piece_states == "d" * meta.piece_count
        sources = engine.progress().piece_sources  # who gave each piece, for the UI's piece map
        assert sorted(sources) == list(range(meta.piece_count)) and set(sources.values()) == set(by_peer)
        assert engine.buffers.made <= engine.buffers.limit  # memory: a bounded set of piece buffers, reused
        assert engine.buffers.made * meta.piece_size <= 4 * engine.config.buffer_budget
    finally:
        store.close()
        for s in seeders:
            await s.close()


async def test_partial_holder_serves_pieces_while_it_downloads(tmp_path: Path) -> None:
    """B downloads from the sharer A; C knows only B and gets every piece from B as B verifies it (HAVE)."""
    data = make_file(tmp_path / "src.bin", 1024 * 1024 + 5)
    meta = meta_of("src.bin", data, PIECE)
    sharer = await start_seeder("alice", [PieceStore.open_complete(tmp_path / "src.bin", meta)])
    store_b = PieceStore.open_partial(tmp_path / "b.part", tmp_path / "b.state", meta)
    node_b = await start_seeder("bob", [store_b])  # B's piece server serves its partial store at once
    store_c = PieceStore.open_partial(tmp_path / "c.part", tmp_path / "c.state", meta)
    gate = asyncio.Event()

    async def slow_source_b() -> SwarmSnapshot:
        await gate.wait()  # B starts only once C is connected to it, so C must swarm from a partial holder
        return SwarmSnapshot(token_for(meta.sha256, "bob"), [sharer.info()])

    async def source_c() -> SwarmSnapshot:
        gate.set()
        return SwarmSnapshot(token_for(meta.sha256, "carol"), [SeederInfo("bob", "127.0.0.1", node_b.server.port,
                                                                          "", bytes(store_b.bitfield()))])

    # C connects to B although B holds nothing yet: what B verifies next reaches C by HAVE.
    engine_b = DownloadEngine(meta, store_b, slow_source_b, config=FAST)
    engine_c = DownloadEngine(meta, store_c, source_c, config=FAST)
    try:
        await asyncio.gather(engine_b.run(), engine_c.run())
        assert engine_c.progress().bytes_by_peer == {"bob": meta.size}
        assert node_b.server.bytes_sent_by_user() == {"carol": meta.size}
        final = await store_c.finish(tmp_path / "c.bin")
        assert file_sha256(final) == meta.sha256
    finally:
        store_c.close()
        await node_b.close()
        await sharer.close()


async def test_mixed_full_and_partial_seeders_both_contribute(tmp_path: Path) -> None:
    data = make_file(tmp_path / "src.bin", 2 * 1024 * 1024)
    meta = meta_of("src.bin", data, PIECE)
    full = await start_seeder("full", [PieceStore.open_complete(tmp_path / "src.bin", meta)])
    half = PieceStore.open_partial(tmp_path / "half.part", tmp_path / "half.state", meta)
    for i in range(0, meta.piece_count, 2):
        assert half.verify_and_write(i, memoryview(data)[i * PIECE:(i + 1) * PIECE])
        half.mark_verified(i)
    partial = await start_seeder("partial", [half])
    store = PieceStore.open_partial(tmp_path / "dl.part", tmp_path / "dl.state", meta)
    try:
        engine = DownloadEngine(meta, store, static_source(token_for(meta.sha256), [
            full.info(), partial.info(half.bitfield())]), config=FAST)
        await engine.run()
        by_peer = engine.progress().bytes_by_peer
        assert by_peer["full"] > 0 and by_peer["partial"] > 0
        assert file_sha256(await store.finish(tmp_path / "out.bin")) == meta.sha256
    finally:
        store.close()
        await full.close()
        await partial.close()


async def test_seeder_killed_mid_download_others_finish_it(tmp_path: Path) -> None:
    meta, seeders, store = await seeders_and_partial(tmp_path, 3 * 1024 * 1024, PIECE, 3)
    victim = seeders[0]
    kill: list[asyncio.Task[None]] = []

    def on_piece(index: int) -> None:
        if len(kill) == 0 and victim.server.bytes_sent_total > 0 and store.verified_count >= 10:
            kill.append(asyncio.get_running_loop().create_task(victim.server.close()))

    try:
        engine = DownloadEngine(meta, store, static_source(token_for(meta.sha256), [s.info() for s in seeders]),
                                on_piece=on_piece, config=FAST)
        await engine.run()
        assert kill, "the victim was never killed"
        await kill[0]
        assert store.missing_count == 0
        assert file_sha256(await store.finish(tmp_path / "out.bin")) == meta.sha256
        assert sum(engine.progress().bytes_by_peer.values()) == meta.size
    finally:
        store.close()
        for s in seeders:
            await s.close()


async def test_corrupt_seeder_is_dropped_and_pieces_refetched(tmp_path: Path) -> None:
    data = make_file(tmp_path / "src.bin", 2 * 1024 * 1024)
    meta = meta_of("src.bin", data, PIECE)
    corrupt_copy(data, tmp_path / "bad.bin")  # the file changed on disk after it was shared
    good = await start_seeder("good", [PieceStore.open_complete(tmp_path / "src.bin", meta)])
    bad = await start_seeder("bad", [PieceStore.open_complete(tmp_path / "bad.bin", meta)])
    store = PieceStore.open_partial(tmp_path / "dl.part", tmp_path / "dl.state", meta)
    try:
        engine = DownloadEngine(meta, store, static_source(token_for(meta.sha256), [bad.info(), good.info()]),
                                config=FAST)
        await engine.run()
        assert bad.server.bytes_sent_total > 0  # it was used, and every piece it sent was refused
        assert engine.dropped_peers == (bad.info().addr,)
        assert engine.progress().bytes_by_peer == {"good": meta.size}
        assert file_sha256(await store.finish(tmp_path / "out.bin")) == meta.sha256
    finally:
        store.close()
        await good.close()
        await bad.close()


async def test_only_corrupt_seeders_fail_the_download(tmp_path: Path) -> None:
    data = make_file(tmp_path / "src.bin", 256 * 1024)
    meta = meta_of("src.bin", data, PIECE)
    corrupt_copy(data, tmp_path / "bad.bin")
    bad = await start_seeder("bad", [PieceStore.open_complete(tmp_path / "bad.bin", meta)])
    store = PieceStore.open_partial(tmp_path / "dl.part", tmp_path / "dl.state", meta)
    try:
        engine = DownloadEngine(meta, store, static_source(token_for(meta.sha256), [bad.info()]),
                                config=EngineConfig(refresh_interval=0.2, no_peer_timeout=0.5, retry_delay=0.1))
        with pytest.raises(CorruptSources, match="sent damaged pieces"):  # not a wait for the same bad seeder
            await engine.run()
        assert store.verified_count == 0
    finally:
        store.close()
        await bad.close()


async def test_resumed_download_fetches_only_missing_pieces(tmp_path: Path) -> None:
    data = make_file(tmp_path / "src.bin", 2 * 1024 * 1024)
    meta = meta_of("src.bin", data, PIECE)
    # First life: the only peer holds the first third, so the download cannot finish; the node then dies.
    third = PieceStore.open_partial(tmp_path / "third.part", tmp_path / "third.state", meta)
    for i in range(meta.piece_count // 3):
        assert third.verify_and_write(i, memoryview(data)[i * PIECE:(i + 1) * PIECE])
        third.mark_verified(i)
    holder = await start_seeder("holder", [third])
    seeder = await start_seeder("seed", [PieceStore.open_complete(tmp_path / "src.bin", meta)])
    part, state = tmp_path / "dl.part", tmp_path / "dl.state"
    try:
        store = PieceStore.open_partial(part, state, meta)
        got_all_there_is = asyncio.Event()

        def on_piece(index: int) -> None:
            if store.verified_count == meta.piece_count // 3:
                got_all_there_is.set()

        first = asyncio.get_running_loop().create_task(DownloadEngine(
            meta, store, static_source(token_for(meta.sha256), [holder.info(third.bitfield())]),
            on_piece=on_piece, config=FAST).run())
        await got_all_there_is.wait()
        first.cancel()  # the node dies mid-download
        with pytest.raises(asyncio.CancelledError):
            await first
        store.close()
        # Second life: resumes from the saved bitfield and asks only for what it lacks.
        again = PieceStore.open_partial(part, state, meta)
        had = {i for i in range(meta.piece_count) if again.has(i)}
        assert had == set(range(meta.piece_count // 3))
        engine = DownloadEngine(meta, again, static_source(token_for(meta.sha256), [seeder.info()]), config=FAST)
        await engine.run()
        assert engine.requested == set(range(meta.piece_count)) - had
        assert file_sha256(await again.finish(tmp_path / "out.bin")) == meta.sha256
        again.close()
    finally:
        await seeder.close()
        await holder.close()


async def test_no_seeder_at_all_fails_within_the_configured_time(tmp_path: Path) -> None:
    data = make_file(tmp_path / "src.bin", 100 * 1024)
    meta = meta_of("src.bin", data, PIECE)
    store = PieceStore.open_partial(tmp_path / "dl.part", tmp_path / "dl.state", meta)
    try:
        engine = DownloadEngine(meta, store, static_source(token_for(meta.sha256), []),
                                config=EngineConfig(refresh_interval=0.2, no_peer_timeout=0.5))
        # wait_for bounds it: a hang would raise TimeoutError, not DownloadFailed
        with pytest.raises(DownloadFailed, match="no seeder reachable"):
            await asyncio.wait_for(engine.run(), 30)
    finally:
        store.close()


async def test_a_peer_holding_only_pieces_we_have_does_not_keep_the_download_waiting(tmp_path: Path) -> None:
    # The engine's "useful" test (a link's mask against the store's): a connected partial holder that has
    # nothing we lack does not count, so the download ends as "no seeder reachable" instead of waiting on it.
    data = make_file(tmp_path / "src.bin", 8 * PIECE)
    meta = meta_of("src.bin", data, PIECE)
    stores = [PieceStore.open_partial(tmp_path / f"{name}.part", tmp_path / f"{name}.state", meta)
              for name in ("holder", "dl")]
    for store in stores:
        for i in (0, 1, 2):
            assert store.verify_and_write(i, memoryview(data)[i * PIECE:(i + 1) * PIECE])
            store.mark_verified(i)
    holder = await start_seeder("holder", [stores[0]])
    try:
        engine = DownloadEngine(meta, stores[1], static_source(token_for(meta.sha256),
                                                               [holder.info(stores[0].bitfield())]),
                                config=EngineConfig(refresh_interval=0.2, no_peer_timeout=1.0))
        with pytest.raises(DownloadFailed, match="no seeder reachable"):
            await asyncio.wait_for(engine.run(), 30)
        assert engine.requests_sent == 0  # it never asked the holder for anything: it had nothing for us
    finally:
        for store in stores:
            store.close()
        await holder.close()


async def test_unreachable_seeders_fail_the_download(tmp_path: Path) -> None:
    data = make_file(tmp_path / "src.bin", 100 * 1024)
    meta = meta_of("src.bin", data, PIECE)
    gone = await start_seeder("gone", [PieceStore.open_complete(tmp_path / "src.bin", meta)])
    info = gone.info()
    await gone.close()  # its port now refuses connections
    store = PieceStore.open_partial(tmp_path / "dl.part", tmp_path / "dl.state", meta)
    try:
        engine = DownloadEngine(meta, store, static_source(token_for(meta.sha256), [info]),
                                config=EngineConfig(refresh_interval=0.2, no_peer_timeout=0.5, retry_delay=0.05))
        with pytest.raises(DownloadFailed, match="no seeder reachable"):
            await asyncio.wait_for(engine.run(), 30)
    finally:
        store.close()


async def test_seeder_joining_later_is_used(tmp_path: Path) -> None:
    data = make_file(tmp_path / "src.bin", 512 * 1024)
    meta = meta_of("src.bin", data, PIECE)
    late = await start_seeder("late", [PieceStore.open_complete(tmp_path / "src.bin", meta)])
    calls = 0

    async def source() -> SwarmSnapshot:
        nonlocal calls
        calls += 1
        return SwarmSnapshot(token_for(meta.sha256), [late.info()] if calls >= 3 else [])

    store = PieceStore.open_partial(tmp_path / "dl.part", tmp_path / "dl.state", meta)
    try:
        engine = DownloadEngine(meta, store, source, config=EngineConfig(refresh_interval=0.1, no_peer_timeout=5))
        await engine.run()
        assert calls >= 3
        assert engine.progress().bytes_by_peer == {"late": meta.size}
    finally:
        store.close()
        await late.close()


async def test_empty_file_completes_without_peers(tmp_path: Path) -> None:
    meta = meta_of("empty", b"", PIECE)
    store = PieceStore.open_partial(tmp_path / "e.part", tmp_path / "e.state", meta)
    await DownloadEngine(meta, store, static_source("", [])).run()
    final = await store.finish(tmp_path / "empty")
    assert final.read_bytes() == b""
    store.close()


async def start_mute_peer(meta_count: int) -> tuple[asyncio.Server, SeederInfo]:
    """A peer that accepts the handshake, claims every piece, and then never sends a byte of any."""
    from peer_node.swarm.store import full_bitfield
    from wire.peer_protocol import Bitfield, encode

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(4096)
        writer.write(encode(Bitfield(bytes(full_bitfield(meta_count)))))
        while await reader.read(65536):
            pass
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, SeederInfo("mute", "127.0.0.1", server.sockets[0].getsockname()[1], "", None)


async def test_a_peer_that_never_answers_does_not_hold_up_the_download(tmp_path: Path) -> None:
    data = make_file(tmp_path / "src.bin", 512 * 1024)
    meta = meta_of("src.bin", data, PIECE)
    mute, mute_info = await start_mute_peer(meta.piece_count)
    good = await start_seeder("good", [PieceStore.open_complete(tmp_path / "src.bin", meta)])
    store = PieceStore.open_partial(tmp_path / "dl.part", tmp_path / "dl.state", meta)
    try:
        engine = DownloadEngine(meta, store, static_source(token_for(meta.sha256), [mute_info, good.info()]),
                                config=EngineConfig(request_timeout=60, no_peer_timeout=60))
        await asyncio.wait_for(engine.run(), 30)  # the endgame re-asks the good peer for the mute one's pieces
        assert engine.progress().bytes_by_peer == {"good": meta.size}
    finally:
        store.close()
        await good.close()
        mute.close()


async def test_only_a_peer_that_never_answers_fails_the_download(tmp_path: Path) -> None:
    data = make_file(tmp_path / "src.bin", 64 * 1024)
    meta = meta_of("src.bin", data, PIECE)
    mute, mute_info = await start_mute_peer(meta.piece_count)
    store = PieceStore.open_partial(tmp_path / "dl.part", tmp_path / "dl.state", meta)
    try:
        engine = DownloadEngine(meta, store, static_source(token_for(meta.sha256), [mute_info]),
                                config=EngineConfig(no_peer_timeout=0.5, refresh_interval=0.2))
        with pytest.raises(DownloadFailed, match="no seeder reachable"):
            await asyncio.wait_for(engine.run(), 30)
    finally:
        store.close()
        mute.close()


async def test_pieces_of_many_blocks_stay_within_the_servers_request_cap(tmp_path: Path) -> None:
    data = make_file(tmp_path / "src.bin", 4 * 1024 * 1024)
    meta = meta_of("src.bin", data, 256 * 1024)  # 16 blocks of 16 KiB a piece, many pieces in flight
    seeder = await start_seeder("seed", [PieceStore.open_complete(tmp_path / "src.bin", meta)])
    store = PieceStore.open_partial(tmp_path / "dl.part", tmp_path / "dl.state", meta)
    try:
        engine = DownloadEngine(meta, store, static_source(token_for(meta.sha256), [seeder.info()]),
                                config=EngineConfig(block_size=16 * 1024, max_depth=16, no_peer_timeout=3))
        await engine.run()
        assert engine.requests_sent == meta.piece_count  # no connection was dropped and no piece asked twice
        assert file_sha256(await store.finish(tmp_path / "out.bin")) == meta.sha256
    finally:
        store.close()
        await seeder.close()


async def test_a_failing_on_piece_callback_does_not_stall_the_download(tmp_path: Path) -> None:
    data = make_file(tmp_path / "src.bin", 256 * 1024)
    meta = meta_of("src.bin", data, PIECE)
    seeder = await start_seeder("seed", [PieceStore.open_complete(tmp_path / "src.bin", meta)])
    store = PieceStore.open_partial(tmp_path / "dl.part", tmp_path / "dl.state", meta)
    calls: list[int] = []

    def broken(index: int) -> None:
        calls.append(index)
        raise ValueError("a bug in the node")

    try:
        engine = DownloadEngine(meta, store, static_source(token_for(meta.sha256), [seeder.info()]),
                                on_piece=broken, config=FAST)
        await asyncio.wait_for(engine.run(), 30)
        assert sorted(calls) == list(range(meta.piece_count))
    finally:
        store.close()
        await seeder.close()


async def test_download_finishing_during_a_slow_tracker_refresh_completes(tmp_path: Path) -> None:
    data = make_file(tmp_path / "src.bin", 512 * 1024)
    meta = meta_of("src.bin", data, PIECE)
    last = meta.piece_count - 1
    holder_store = PieceStore.open_partial(tmp_path / "h.part", tmp_path / "h.state", meta)
    for i in range(last):  # the holder lacks the last piece until the second refresh
        assert holder_store.verify_and_write(i, memoryview(data)[i * PIECE:(i + 1) * PIECE])
        holder_store.mark_verified(i)
    holder = await start_seeder("holder", [holder_store])
    store = PieceStore.open_partial(tmp_path / "dl.part", tmp_path / "dl.state", meta)
    calls = 0

    async def slow_second_refresh() -> SwarmSnapshot:
        nonlocal calls
        calls += 1
        if calls == 2:  # a tracker failing over: the last piece arrives and the download ends while we wait
            assert holder_store.verify_and_write(last, memoryview(data)[last * PIECE:])
            holder_store.mark_verified(last)
            for _ in range(3000):
                if store.missing_count == 0:
                    break
                await asyncio.sleep(0.01)
        return SwarmSnapshot(token_for(meta.sha256), [holder.info(holder_store.bitfield())])

    try:
        engine = DownloadEngine(meta, store, slow_second_refresh,
                                config=EngineConfig(refresh_interval=0.01, busy_refresh_interval=0.01))
        await asyncio.wait_for(engine.run(), 60)
        assert calls == 2 and store.missing_count == 0
    finally:
        store.close()
        await holder.close()


async def test_a_download_stays_within_its_buffers_and_gives_every_one_back(tmp_path: Path) -> None:
    # A buffer is out only while its piece is received, verified and written (no whole-file hash keeps any):
    # the pool is the budget's buffers, and once the download is over every one of them is back in it.
    piece = 64 * 1024
    data = make_file(tmp_path / "src.bin", 64 * piece)
    meta = meta_of("src.bin", data, piece)
    seeder = await start_seeder("seed", [PieceStore.open_complete(tmp_path / "src.bin", meta)])
    store = PieceStore.open_partial(tmp_path / "dl.part", tmp_path / "dl.state", meta)
    try:
        config = EngineConfig(refresh_interval=0.3, no_peer_timeout=3.0, buffer_budget=8 * piece)  # 8 for 64
        engine = DownloadEngine(meta, store, static_source(token_for(meta.sha256), [seeder.info()]), config=config)
        await engine.run()
        assert file_sha256(await store.finish(tmp_path / "out.bin")) == meta.sha256
        assert engine.buffers.limit == receive_buffers(config.buffer_budget, piece)
        assert engine.buffers.in_use == 0 and engine.buffers.allocated == 0  # all back, then freed (close)
    finally:
        store.close()
        await seeder.close()
