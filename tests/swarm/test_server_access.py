"""The piece server gives no piece byte without a valid token for that file, and bad frames close one
connection only."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from pathlib import Path

import pytest

from peer_node.swarm import DownloadEngine, EngineConfig, PieceStore, ServerLimits
from tests.swarm.helpers import (
    OTHER_KEY,
    Seeder,
    file_sha256,
    make_file,
    meta_of,
    poll_until,
    start_seeder,
    static_source,
    token_for,
)
from wire.frame_receiver import FrameReceiver
from wire.peer_protocol import Bitfield, Goodbye, Handshake, Have, Piece, ProtocolError, Request, encode
from wire.records import FileMeta

PIECE = 16 * 1024


async def talk(port: int, frames: bytes, *, read_for: float = 2.0) -> list[object]:
    """Send ``frames`` on a fresh connection and decode whatever comes back until the server closes."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(frames)
    await writer.drain()
    got = b""
    try:
        async with asyncio.timeout(read_for):
            while chunk := await reader.read(65536):
                got += chunk
    except TimeoutError:
        pass
    writer.close()
    with contextlib.suppress(ConnectionError):
        await writer.wait_closed()
    try:
        return list(FrameReceiver().feed(got))
    except ProtocolError:
        return ["undecodable"]


@pytest.fixture
async def served(tmp_path: Path):  # type: ignore[no-untyped-def]
    data = make_file(tmp_path / "src.bin", 4 * PIECE)
    meta = meta_of("src.bin", data, PIECE)
    seeder = await start_seeder("seed", [PieceStore.open_complete(tmp_path / "src.bin", meta)],
                                ServerLimits(handshake_timeout=1.0, idle_timeout=2.0, max_pending_per_address=4))
    yield seeder, meta
    await seeder.close()


def hello(meta: FileMeta, token: str) -> bytes:
    return encode(Handshake(bytes.fromhex(meta.sha256), token.encode())) + encode(Request(0, 0, PIECE))


async def test_a_valid_token_gets_piece_bytes(served: tuple[Seeder, FileMeta]) -> None:
    seeder, meta = served
    events = await talk(seeder.server.port, hello(meta, token_for(meta.sha256)), read_for=0.5)
    assert isinstance(events[0], Bitfield)
    assert any(isinstance(e, Piece) and e.index == 0 for e in events)


@pytest.mark.parametrize("case", ["none", "garbage", "expired", "other_file", "foreign_key", "bound_to_other"])
async def test_a_bad_token_gets_goodbye_and_no_piece_bytes(served: tuple[Seeder, FileMeta], case: str) -> None:
    seeder, meta = served
    token = {
        "none": "",
        "garbage": "not.a-token",
        "expired": token_for(meta.sha256, ttl=-1),
        "other_file": token_for("ab" * 32),
        "foreign_key": token_for(meta.sha256, key=OTHER_KEY),
        "bound_to_other": token_for(meta.sha256, fingerprint="cd" * 32),
    }[case]
    events = await talk(seeder.server.port, hello(meta, token))
    assert not any(isinstance(e, Piece | Bitfield) for e in events)
    assert len(events) == 1 and isinstance(events[0], Goodbye) and "denied" in events[0].reason
    assert seeder.server.bytes_sent_total == 0


async def test_a_file_not_served_gets_goodbye(served: tuple[Seeder, FileMeta]) -> None:
    seeder, _meta = served
    other = "ef" * 32
    events = await talk(seeder.server.port, encode(Handshake(bytes.fromhex(other), token_for(other).encode())))
    assert events == [Goodbye("file not served here")]


async def test_a_logged_out_node_serves_nothing(tmp_path: Path) -> None:
    data = make_file(tmp_path / "src.bin", 2 * PIECE)
    meta = meta_of("src.bin", data, PIECE)
    seeder = await start_seeder("seed", [PieceStore.open_complete(tmp_path / "src.bin", meta)], verifier=None)
    try:
        events = await talk(seeder.server.port, hello(meta, token_for(meta.sha256)))
        assert not any(isinstance(e, Piece) for e in events)
    finally:
        await seeder.close()


@pytest.mark.parametrize("junk", [
    b"\xff\xff\xff\xff\x04",  # a frame claiming 4 GiB
    b"\x00\x00\x00\x01\x63",  # unknown type
    b"GET / HTTP/1.1\r\n\r\n",  # not our protocol at all
])
async def test_malformed_frames_close_that_connection_only(served: tuple[Seeder, FileMeta], junk: bytes,
                                                           tmp_path: Path) -> None:
    seeder, meta = served
    events = await talk(seeder.server.port, junk)
    assert not any(isinstance(e, Piece) for e in events)
    # the server still serves everyone else
    store = PieceStore.open_partial(tmp_path / "dl.part", tmp_path / "dl.state", meta)
    try:
        await DownloadEngine(meta, store, static_source(token_for(meta.sha256), [seeder.info()]),
                             config=EngineConfig(no_peer_timeout=3)).run()
        assert file_sha256(await store.finish(tmp_path / "out")) == meta.sha256
    finally:
        store.close()


async def test_request_outside_the_file_closes_the_connection(served: tuple[Seeder, FileMeta]) -> None:
    seeder, meta = served
    frames = encode(Handshake(bytes.fromhex(meta.sha256), token_for(meta.sha256).encode()))
    events = await talk(seeder.server.port, frames + encode(Request(99, 0, 10)))
    assert isinstance(events[0], Bitfield)
    assert isinstance(events[-1], Goodbye) and "outside" in events[-1].reason
    assert seeder.server.bytes_sent_total == 0


async def test_silent_connections_are_closed_after_the_handshake_timeout(served: tuple[Seeder, FileMeta]) -> None:
    seeder, _meta = served
    events = await talk(seeder.server.port, b"", read_for=10)
    assert events == [Goodbye("handshake timeout")]


async def test_slow_loris_cannot_lock_out_a_real_download(served: tuple[Seeder, FileMeta], tmp_path: Path) -> None:
    seeder, meta = served
    idle = [await asyncio.open_connection("127.0.0.1", seeder.server.port) for _ in range(20)]
    store = PieceStore.open_partial(tmp_path / "dl.part", tmp_path / "dl.state", meta)
    try:
        await DownloadEngine(meta, store, static_source(token_for(meta.sha256), [seeder.info()]),
                             config=EngineConfig(no_peer_timeout=5)).run()
        assert store.missing_count == 0
        assert seeder.server.connection_count <= 4 + 1  # pending ones were capped per address
    finally:
        store.close()
        for _reader, writer in idle:
            writer.close()


async def test_a_peer_that_stops_reading_is_dropped(tmp_path: Path) -> None:
    import socket

    data = make_file(tmp_path / "big.bin", 16 * 1024 * 1024)
    meta = meta_of("big.bin", data, 1024 * 1024)
    seeder = await start_seeder("seed", [PieceStore.open_complete(tmp_path / "big.bin", meta)],
                                ServerLimits(idle_timeout=1.0))
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    loop = asyncio.get_running_loop()
    try:
        await loop.sock_connect(sock, ("127.0.0.1", seeder.server.port))
        frames = encode(Handshake(bytes.fromhex(meta.sha256), token_for(meta.sha256).encode()))
        frames += b"".join(encode(Request(i, 0, 1024 * 1024)) for i in range(16))
        await loop.sock_sendall(sock, frames)
        async with asyncio.timeout(20):
            await poll_until(lambda: seeder.server.connection_count > 0)
            await asyncio.sleep(0.3)
            assert seeder.server.connection_count == 1  # accepted, serving, stalled on our full buffers
            await poll_until(lambda: seeder.server.connection_count == 0)  # never read: idle_timeout lets go
        assert seeder.server.bytes_sent_total < meta.size
    finally:
        sock.close()
        await seeder.close()


async def test_haves_of_pieces_verified_together_share_one_write(tmp_path: Path) -> None:
    # In a flash crowd every node tells each peer of every piece: one write per HAVE (a sealed record, a system
    # call and a wake-up of the peer each) was a large share of the crowd's CPU, so they go out together.
    data = make_file(tmp_path / "src.bin", 4 * PIECE)
    meta = meta_of("src.bin", data, PIECE)
    store = PieceStore.open_partial(tmp_path / "dl.part", tmp_path / "dl.state", meta)
    seeder = await start_seeder("seed", [store])
    reader, writer = await asyncio.open_connection("127.0.0.1", seeder.server.port)
    try:
        writer.write(encode(Handshake(bytes.fromhex(meta.sha256), token_for(meta.sha256).encode())))
        receiver = FrameReceiver()
        events: list[object] = []
        async with asyncio.timeout(5):
            while not any(isinstance(e, Bitfield) for e in events):
                events += receiver.feed(await reader.read(65536))
        (conn,) = seeder.server.connections.all
        assert conn.transport is not None
        writes: list[bytes] = []
        write = conn.transport.write

        def counted(chunk: bytes | bytearray | memoryview) -> None:
            writes.append(bytes(chunk))
            write(chunk)

        conn.transport.write = counted  # type: ignore[method-assign, assignment]
        for i in (2, 0, 3):
            assert store.verify_and_write(i, bytearray(data[i * PIECE:(i + 1) * PIECE]))
            store.mark_verified(i)
        async with asyncio.timeout(5):
            while sum(isinstance(e, Have) for e in events) < 3:
                events += receiver.feed(await reader.read(65536))
        assert [e.index for e in events if isinstance(e, Have)] == [2, 0, 3]
        assert len(writes) == 1
    finally:
        writer.close()
        store.close()
        await seeder.close()


async def test_a_file_no_longer_served_while_the_peer_is_slow_to_read_ends_with_a_goodbye(tmp_path: Path) -> None:
    big = 1024 * 1024
    data = make_file(tmp_path / "src.bin", 16 * big)
    meta = meta_of("src.bin", data, big)
    store = PieceStore.open_complete(tmp_path / "src.bin", meta)
    seeder = await start_seeder("seed", [store], ServerLimits(idle_timeout=30.0))
    seeder.server.use_sendfile = False  # as under TLS: the sender itself waits for the peer to read
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # a peer slow to read: the server's writes back up
    sock.connect(("127.0.0.1", seeder.server.port))
    reader, writer = await asyncio.open_connection(sock=sock)
    try:
        writer.write(encode(Handshake(bytes.fromhex(meta.sha256), token_for(meta.sha256).encode()))
                     + b"".join(encode(Request(i, 0, big)) for i in range(16)))
        await writer.drain()
        await asyncio.sleep(0.5)  # the sender now waits for the peer to read
        store.close()  # the share stops meanwhile
        got = b""
        async with asyncio.timeout(10):
            while chunk := await reader.read(1 << 20):
                got += chunk
        events = FrameReceiver().feed(got)
        assert isinstance(events[-1], Goodbye) and events[-1].reason == "file no longer served"
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()
        await seeder.close()
