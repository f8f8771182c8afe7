"""TLS on the peer transport: pinned self-signed certificates and tokens bound to the downloader's certificate."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import mmap
import stat
import threading
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import cast

import pytest

from peer_node.swarm import DownloadEngine, DownloadFailed, EngineConfig, PieceServer, PieceStore, ServedFiles
from peer_node.swarm import buffers as buffers_module
from peer_node.swarm import connection as connection_module
from peer_node.swarm import secure_channel as secure_channel_module
from peer_node.swarm.tls import NodeIdentity, load_or_create_identity
from tests.support.secure_client import SecureSocket
from tests.swarm.helpers import (
    VERIFIER,
    file_sha256,
    in_test_group,
    make_file,
    meta_of,
    poll_until,
    static_source,
    token_for,
)
from wire.frame_receiver import FrameReceiver
from wire.peer_protocol import Bitfield, Goodbye, Handshake, Piece, Request, encode
from wire.records import FileMeta, SeederInfo

PIECE = 16 * 1024


def test_identity_is_made_once_and_kept(tmp_path: Path) -> None:
    first = load_or_create_identity(tmp_path / "node")
    again = load_or_create_identity(tmp_path / "node")
    assert first.fingerprint == again.fingerprint and len(first.fingerprint) == 64
    assert stat.S_IMODE(first.key_path.stat().st_mode) == 0o600


async def start_tls_seeder(identity: NodeIdentity, src: Path, meta: FileMeta) -> PieceServer:
    catalog = ServedFiles()
    catalog.register(PieceStore.open_complete(src, meta))
    server = PieceServer("127.0.0.1", 0, catalog, lambda: VERIFIER, holds=in_test_group, tls=identity)
    await server.start()
    return server


@pytest.fixture
async def tls_swarm(tmp_path: Path):  # type: ignore[no-untyped-def]
    data = make_file(tmp_path / "src.bin", 1024 * 1024 + 11)
    meta = meta_of("src.bin", data, PIECE)
    seeds = [load_or_create_identity(tmp_path / f"seed{i}") for i in range(2)]
    servers = [await start_tls_seeder(ident, tmp_path / "src.bin", meta) for ident in seeds]
    me = load_or_create_identity(tmp_path / "me")
    infos = [SeederInfo(f"seed{i}", "127.0.0.1", s.port, seeds[i].fingerprint, None) for i, s in enumerate(servers)]
    yield meta, me, servers, infos
    for server in servers:
        await server.close()
        for sha, _ in server.catalog.holdings():
            store = server.catalog.get(sha)
            if store is not None:
                store.close()


async def download_over_tls(meta: FileMeta, me: NodeIdentity, infos: list[SeederInfo], store: PieceStore,
                            out: Path) -> DownloadEngine:
    """The whole file from the pinned seeders with a token bound to ``me``, checked against its SHA-256."""
    engine = DownloadEngine(meta, store, static_source(token_for(meta.sha256, fingerprint=me.fingerprint), infos),
                            config=EngineConfig(no_peer_timeout=5), tls=me)
    await engine.run()
    assert file_sha256(await store.finish(out)) == meta.sha256
    return engine


async def test_tls_download_with_pinned_seeders_and_a_bound_token(tls_swarm, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    meta, me, servers, infos = tls_swarm
    for server in servers:  # 1 s for the file from one alone: on a loaded machine (CI), unlimited, the seeder
        server.set_upload_limit(1_000_000)  # whose handshake came first sent it all before the other's was done
    store = PieceStore.open_partial(tmp_path / "dl.part", tmp_path / "dl.state", meta)
    try:
        engine = await download_over_tls(meta, me, infos, store, tmp_path / "out.bin")
        assert set(engine.progress().bytes_by_peer) == {"seed0", "seed1"}
    finally:
        store.close()


async def test_a_token_bound_to_another_node_is_useless(tls_swarm, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    meta, me, servers, infos = tls_swarm
    thief = load_or_create_identity(tmp_path / "thief")
    store = PieceStore.open_partial(tmp_path / "dl.part", tmp_path / "dl.state", meta)
    try:
        stolen = token_for(meta.sha256, fingerprint=me.fingerprint)  # minted for "me", used by the thief
        engine = DownloadEngine(meta, store, static_source(stolen, infos),
                                config=EngineConfig(no_peer_timeout=0.6, refresh_interval=0.2), tls=thief)
        with pytest.raises(DownloadFailed):
            await engine.run()
        assert store.verified_count == 0
        assert all(s.bytes_sent_total == 0 for s in servers)
    finally:
        store.close()


async def test_a_seeder_with_an_unexpected_certificate_is_not_trusted(tls_swarm, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    meta, me, servers, infos = tls_swarm
    wrong = [SeederInfo(i.user_id, i.host, i.port, "ab" * 32, None) for i in infos]
    store = PieceStore.open_partial(tmp_path / "dl.part", tmp_path / "dl.state", meta)
    try:
        engine = DownloadEngine(meta, store, static_source(token_for(meta.sha256, fingerprint=me.fingerprint), wrong),
                                config=EngineConfig(no_peer_timeout=0.6, refresh_interval=0.2), tls=me)
        with pytest.raises(DownloadFailed, match="no seeder reachable"):
            await engine.run()
        assert all(s.bytes_sent_total == 0 for s in servers)  # and our token never left this node
    finally:
        store.close()


async def test_a_proof_signed_with_another_key_is_refused(tls_swarm, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    meta, me, servers, _infos = tls_swarm
    other = load_or_create_identity(tmp_path / "other")
    conn = await asyncio.to_thread(SecureSocket, servers[0].port)
    forged = Handshake(bytes.fromhex(meta.sha256), token_for(meta.sha256, fingerprint=me.fingerprint).encode(),
                       cert=me.cert_der, proof=other.prove(conn.binding))
    try:
        conn.send(encode(forged) + encode(Request(0, 0, PIECE)))
        got = await asyncio.to_thread(conn.read_all, 5)
    finally:
        conn.close()
    events = FrameReceiver().feed(got)
    assert not any(isinstance(e, Piece | Bitfield) for e in events)
    assert isinstance(events[0], Goodbye) and "proof" in events[0].reason


async def test_plain_tcp_to_a_tls_seeder_gets_nothing(tls_swarm) -> None:  # type: ignore[no-untyped-def]
    meta, _me, servers, _infos = tls_swarm
    reader, writer = await asyncio.open_connection("127.0.0.1", servers[0].port)
    writer.write(encode(Handshake(bytes.fromhex(meta.sha256), token_for(meta.sha256).encode())))
    got = b""
    with contextlib.suppress(ConnectionError, TimeoutError):
        async with asyncio.timeout(3):
            while chunk := await reader.read(65536):
                got += chunk
    writer.close()
    assert b"GSP1" not in got and not got.startswith(b"\x00\x00")


async def test_tls_partial_holder_serves_pieces_while_it_downloads(tmp_path: Path) -> None:
    """B fetches from the sharer A while C fetches only from B: B's server sends HAVEs between its piece
    frames, over TLS (the copy path), and C must still get every byte right."""
    data = make_file(tmp_path / "src.bin", 2 * 1024 * 1024)
    meta = meta_of("src.bin", data, PIECE)
    ident_a, ident_b, ident_c = (load_or_create_identity(tmp_path / n) for n in ("a", "b", "c"))
    server_a = await start_tls_seeder(ident_a, tmp_path / "src.bin", meta)
    store_b = PieceStore.open_partial(tmp_path / "b.part", tmp_path / "b.state", meta)
    catalog_b = ServedFiles()
    catalog_b.register(store_b)
    server_b = PieceServer("127.0.0.1", 0, catalog_b, lambda: VERIFIER, holds=in_test_group, tls=ident_b)
    await server_b.start()
    store_c = PieceStore.open_partial(tmp_path / "c.part", tmp_path / "c.state", meta)
    info_a = SeederInfo("alice", "127.0.0.1", server_a.port, ident_a.fingerprint, None)
    info_b = SeederInfo("bob", "127.0.0.1", server_b.port, ident_b.fingerprint, bytes(store_b.bitfield()))
    try:
        engine_b = DownloadEngine(meta, store_b, static_source(token_for(meta.sha256, "bob",
                                                                         fingerprint=ident_b.fingerprint), [info_a]),
                                  config=EngineConfig(no_peer_timeout=10), tls=ident_b)
        engine_c = DownloadEngine(meta, store_c, static_source(token_for(meta.sha256, "carol",
                                                                         fingerprint=ident_c.fingerprint), [info_b]),
                                  config=EngineConfig(no_peer_timeout=10), tls=ident_c)
        await asyncio.gather(engine_b.run(), engine_c.run())
        assert engine_c.progress().bytes_by_peer == {"bob": meta.size}
        assert engine_c.hash_failures == 0  # no frame of bob's was garbled by a HAVE written in its middle
        assert file_sha256(await store_c.finish(tmp_path / "c.bin")) == meta.sha256
    finally:
        store_c.close()
        await server_b.close()
        store_b.close()
        await server_a.close()
        for sha, _ in server_a.catalog.holdings():
            store = server_a.catalog.get(sha)
            if store is not None:
                store.close()


async def _serving(store: PieceStore, identity: NodeIdentity) -> PieceServer:
    """A TLS piece server of ``store`` alone, started."""
    catalog = ServedFiles()
    catalog.register(store)
    server = PieceServer("127.0.0.1", 0, catalog, lambda: VERIFIER, holds=in_test_group, tls=identity)
    await server.start()
    return server


async def _connected(server: PieceServer, meta: FileMeta, me: NodeIdentity) -> tuple[SecureSocket, Handshake]:
    """A TLS connection to ``server`` and the handshake ``me`` sends on it (bound to its channel), not sent yet."""
    conn = await asyncio.to_thread(SecureSocket, server.port)
    return conn, Handshake(bytes.fromhex(meta.sha256), token_for(meta.sha256, fingerprint=me.fingerprint).encode(),
                           cert=me.cert_der, proof=me.prove(conn.binding))


async def test_a_piece_still_in_a_downloads_memory_is_sent_from_there(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """A downloading node serves a piece it has just verified from the buffer that holds it (no file read, no
    thread): the bytes on the wire are the buffer's even if the file's copy were different; other pieces are
    read from the file."""
    data = make_file(tmp_path / "src.bin", 3 * PIECE)
    meta = meta_of("src.bin", data, PIECE)
    me, seed = load_or_create_identity(tmp_path / "me"), load_or_create_identity(tmp_path / "seed")
    store = PieceStore.open_partial(tmp_path / "dl.part", tmp_path / "dl.state", meta)
    for i in (0, 1):
        assert store.verify_and_write(i, bytearray(data[i * PIECE:(i + 1) * PIECE]))
        store.mark_verified(i)
    marked = bytearray(data[PIECE:2 * PIECE])
    marked[:4] = b"MEM!"  # tells the buffer's copy of piece 1 from the file's
    store.serve_from(lambda index: memoryview(marked) if index in (1, 2) else None)  # 2: not verified yet
    reads: list[int] = []
    read_block = store.read_block

    def counted(view: memoryview, offset: int) -> int:
        reads.append(offset)
        return read_block(view, offset)

    monkeypatch.setattr(store, "read_block", counted)
    server = await _serving(store, seed)
    try:
        conn, hello = await _connected(server, meta, me)
        try:
            conn.send(encode(hello) + encode(Request(1, 0, PIECE)) + encode(Request(0, 0, PIECE)))
            got = await asyncio.to_thread(conn.read_all, 1.5)
        finally:
            conn.close()
        pieces = {e.index: e.data for e in FrameReceiver().feed(got) if isinstance(e, Piece)}
        assert pieces == {1: bytes(marked), 0: data[:PIECE]}
        assert reads == [0]  # piece 0 came from the file, piece 1 from memory
        assert store.block_in_memory(2, 0, PIECE) is None  # in a buffer, but not verified: never served
        store.serve_from(None)  # the download ended: its memory is gone
        assert store.block_in_memory(1, 0, PIECE) is None
    finally:
        await server.close()
        store.close()


async def test_a_block_buffer_in_use_when_its_connection_ends_is_freed_after(tmp_path: Path,
                                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """A peer that hangs up while the seeder reads its block from the disk (in a thread that cannot be stopped):
    the connection's teardown cannot free the buffer the read is filling, so the sender frees it once the read
    returns, not the collector later (an executor also holds a call's arguments a moment after its result)."""
    data = make_file(tmp_path / "src.bin", 2 * PIECE)
    meta = meta_of("src.bin", data, PIECE)
    me, seed = load_or_create_identity(tmp_path / "me"), load_or_create_identity(tmp_path / "seed")
    store = PieceStore.open_complete(tmp_path / "src.bin", meta)
    reading, go_on = threading.Event(), threading.Event()
    read_block = store.read_block

    def slow(view: memoryview, offset: int) -> int:
        reading.set()
        go_on.wait(5)
        return read_block(view, offset)

    monkeypatch.setattr(store, "read_cached", lambda view, offset: 0)  # as if the page cache held none of it
    monkeypatch.setattr(store, "read_block", slow)
    made: list[mmap.mmap] = []

    def recorded(size: int) -> memoryview:
        view = buffers_module.new_buffer(size)
        made.append(cast(mmap.mmap, view.obj))
        return view

    monkeypatch.setattr(connection_module, "new_buffer", recorded)
    server = await _serving(store, seed)
    try:
        conn, hello = await _connected(server, meta, me)
        conn.send(encode(hello) + encode(Request(0, 0, PIECE)))
        assert await asyncio.to_thread(reading.wait, 5)
        conn.close()
        await asyncio.wait_for(poll_until(lambda: not server.connections), 5)  # torn down while the read runs
        assert [m.closed for m in made] == [False]  # the thread still reads into it
        go_on.set()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(poll_until(lambda: all(m.closed for m in made)), 5)
        assert [m.closed for m in made] == [True]
    finally:
        go_on.set()
        await server.close()
        store.close()


async def test_a_finished_tls_download_leaves_no_mapping_behind(tls_swarm, tmp_path: Path,  # type: ignore[no-untyped-def]
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """Each secure channel's 4 MiB ring and each seeder connection's block buffer are freed as their connection
    ends, and the piece buffers as the download ends, not when the collector finds them (they sit in reference
    cycles: 9 MB more for each 64 MiB downloaded, 700 MB in an audit's soak); no verify thread keeps its last
    piece's buffer (and the whole download) while it waits for the next, which no collection frees."""
    # The connections' mappings must be closed (free_buffer), so they are held here; a piece buffer may also go
    # with its last reference (a worker thread's, a moment after its result is out), so only a weak one is kept.
    connections: list[mmap.mmap] = []
    pieces: list[weakref.ref[mmap.mmap]] = []

    def recorder(record: Callable[[mmap.mmap], None]) -> Callable[[int], memoryview]:
        def recorded(size: int) -> memoryview:
            view = real(size)
            record(cast(mmap.mmap, view.obj))
            return view
        return recorded

    def pieces_held() -> list[int]:
        gc.collect()
        return [len(m) for ref in pieces if (m := ref()) is not None and not m.closed]

    real = buffers_module.new_buffer
    monkeypatch.setattr(buffers_module, "new_buffer", recorder(lambda m: pieces.append(weakref.ref(m))))
    for module in (secure_channel_module, connection_module):
        monkeypatch.setattr(module, "new_buffer", recorder(connections.append))
    meta, me, _servers, infos = tls_swarm
    store = PieceStore.open_partial(tmp_path / "dl.part", tmp_path / "dl.state", meta)
    try:
        engine = await download_over_tls(meta, me, infos, store, tmp_path / "out.bin")
        assert engine.buffers.allocated == 0 and engine.buffers.made > 0  # every piece buffer back, then freed
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(poll_until(lambda: all(m.closed for m in connections)), 5)
        assert [len(m) for m in connections if not m.closed] == []
        assert len(connections) >= 4  # a ring each side of both links, the seeders' block buffers
        # A piece buffer a slice of which some object in a cycle still holds goes with the collector (bounded: the
        # pieces in flight at the end); one a thread keeps while it waits for its next piece never would.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(poll_until(lambda: not pieces_held()), 5)
        assert pieces_held() == [] and pieces
    finally:
        store.close()
