"""Attacks on a node's piece server as deployed (TLS, pinned certificates, fingerprint-bound tokens): no token,
an expired token, a token for another file, a token from a foreign signing key, a token replayed from another
node, a frame claiming 4 GiB, connection floods and a slow-loris of 200 connections. Each gets no piece byte
and disturbs nothing but its own connection; a real download completes meanwhile."""

from __future__ import annotations

import asyncio
import contextlib
import struct
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from peer_node.swarm import DownloadEngine, EngineConfig, PieceServer, PieceStore, ServedFiles, ServerLimits
from peer_node.swarm.tls import NodeIdentity, load_or_create_identity
from tests.support.secure_client import SecureSocket
from tests.swarm.helpers import (
    OTHER_KEY,
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
from wire.peer_protocol import Bitfield, Goodbye, Handshake, KeepAlive, MsgType, Piece, Request, encode
from wire.records import FileMeta, SeederInfo

PIECE = 16 * 1024
LIMITS = ServerLimits(max_connections=300, max_per_address=250, max_pending_per_address=8, handshake_timeout=2.0,
                      idle_timeout=2.0)


@dataclass
class World:
    meta: FileMeta
    other_meta: FileMeta
    server: PieceServer
    seeder: NodeIdentity
    me: NodeIdentity
    thief: NodeIdentity
    tmp: Path

    def seeder_info(self) -> SeederInfo:
        return SeederInfo("seed", "127.0.0.1", self.server.port, self.seeder.fingerprint, None)


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    data = make_file(tmp_path / "src.bin", 8 * PIECE + 5)
    other = make_file(tmp_path / "other.bin", 2 * PIECE, seed=2)
    meta, other_meta = meta_of("src.bin", data, PIECE), meta_of("other.bin", other, PIECE)
    catalog = ServedFiles()
    stores = [PieceStore.open_complete(tmp_path / "src.bin", meta),
              PieceStore.open_complete(tmp_path / "other.bin", other_meta)]
    for store in stores:
        catalog.register(store)
    seeder = load_or_create_identity(tmp_path / "seeder")
    server = PieceServer("127.0.0.1", 0, catalog, lambda: VERIFIER, LIMITS, holds=in_test_group, tls=seeder)
    await server.start()
    try:
        yield World(meta, other_meta, server, seeder, load_or_create_identity(tmp_path / "me"),
                    load_or_create_identity(tmp_path / "thief"), tmp_path)
    finally:
        await server.close()
        for store in stores:
            store.close()


def holds_a_piece(got: bytes) -> bool:
    return any(isinstance(e, Piece) for e in FrameReceiver().feed(got))


async def tls_talk(world: World, identity: NodeIdentity, token: str, *, file_sha: str | None = None,
                   extra: bytes = b"", until_piece: bool = False) -> list[object]:
    """One TLS connection as ``identity`` (a genuine proof for this connection), a handshake with ``token``,
    a request for piece 0; return whatever the server sent until it hung up (or, ``until_piece``, until the
    piece came: a served connection is not hung up until it has been idle a while)."""
    conn = await asyncio.to_thread(SecureSocket, world.server.port)
    try:
        proof = identity.prove(conn.binding)
        sha = bytes.fromhex(file_sha or world.meta.sha256)
        conn.send(encode(Handshake(sha, token.encode(), cert=identity.cert_der, proof=proof))
                  + encode(Request(0, 0, PIECE)) + extra)
        got = await asyncio.to_thread(conn.read_all, 3.0, holds_a_piece if until_piece else None)
    finally:
        conn.close()
    return list(FrameReceiver().feed(got))


def got_piece_bytes(events: list[object]) -> bool:
    return any(isinstance(e, Piece | Bitfield) for e in events)


async def test_a_genuine_token_over_tls_gets_the_piece(world: World) -> None:
    events = await tls_talk(world, world.me, token_for(world.meta.sha256, fingerprint=world.me.fingerprint),
                            until_piece=True)
    assert isinstance(events[0], Bitfield) and any(isinstance(e, Piece) for e in events)


@pytest.mark.parametrize("case", ["no token", "expired", "another file", "foreign key", "replayed by another node",
                                  "another group"])
async def test_a_bad_token_gets_goodbye_and_no_piece_byte(world: World, case: str) -> None:
    fp = world.me.fingerprint
    token, who, sha = {
        "no token": ("", world.me, None),
        "expired": (token_for(world.meta.sha256, fingerprint=fp, ttl=-1), world.me, None),
        "another file": (token_for(world.other_meta.sha256, fingerprint=fp), world.me, world.meta.sha256),
        "foreign key": (token_for(world.meta.sha256, fingerprint=fp, key=OTHER_KEY), world.me, None),
        # The thief holds a copy of my token and proves ITS OWN certificate on its own connection.
        "replayed by another node": (token_for(world.meta.sha256, fingerprint=fp), world.thief, None),
        # A genuine token for the same bytes, minted for a group this node does not share them in: the tracker
        # lists any file a member shares in their own group, so anyone knowing a file's SHA-256 could get one.
        "another group": (token_for(world.meta.sha256, fingerprint=fp, group="mallorys-group"), world.me, None),
    }[case]
    events = await tls_talk(world, who, token, file_sha=sha)
    assert not got_piece_bytes(events)
    assert events and isinstance(events[0], Goodbye)
    assert world.server.bytes_sent_total == 0


# The DER of the OIDs id-ecPublicKey (1.2.840.10045.2.1) and prime256v1 (1.2.840.10045.3.1.7), and of OIDs of the
# same length no library knows: a certificate that still parses, whose key cannot be loaded.
EC_KEY_OID, P256_OID = bytes.fromhex("06072a8648ce3d0201"), bytes.fromhex("06082a8648ce3d030107")
UNKNOWN_KEY_OID, UNKNOWN_CURVE_OID = bytes.fromhex("06072a8648ce3d0209"), bytes.fromhex("06082a8648ce3d3f0107")


@pytest.mark.parametrize("swap", [(EC_KEY_OID, UNKNOWN_KEY_OID), (P256_OID, UNKNOWN_CURVE_OID)],
                         ids=["unknown key type", "unknown curve"])
async def test_a_certificate_with_a_key_nobody_knows_gets_goodbye_and_logs_no_error(
        world: World, swap: tuple[bytes, bytes], caplog: pytest.LogCaptureFixture) -> None:
    """Before any token is looked at, so any stranger could send it: once, a traceback at ERROR per connection."""
    assert swap[0] in world.me.cert_der
    cert = world.me.cert_der.replace(*swap)
    conn = await asyncio.to_thread(SecureSocket, world.server.port)
    try:
        token = token_for(world.meta.sha256, fingerprint=world.me.fingerprint)
        conn.send(encode(Handshake(bytes.fromhex(world.meta.sha256), token.encode(), cert=cert,
                                   proof=world.me.prove(conn.binding))))
        events = list(FrameReceiver().feed(await asyncio.to_thread(conn.read_all)))
    finally:
        conn.close()
    assert events == [Goodbye("access denied: malformed client certificate")]
    assert not [r for r in caplog.records if r.levelname in ("ERROR", "CRITICAL")]
    assert world.server.bytes_sent_total == 0


async def test_a_frame_claiming_four_gib_closes_that_connection_only(world: World) -> None:
    token = token_for(world.meta.sha256, fingerprint=world.me.fingerprint)
    bystander = asyncio.create_task(tls_talk(world, world.me, token, until_piece=True))
    monster = struct.pack(">IB", 0xFFFFFFFF, int(MsgType.REQUEST))
    events = await tls_talk(world, world.me, token, extra=monster)
    assert isinstance(events[-1], Goodbye)  # refused from the header, nothing more was read
    assert any(isinstance(e, Piece) for e in await bystander)


async def test_connection_floods_are_capped_per_address_and_in_total(tmp_path: Path) -> None:
    catalog = ServedFiles()
    server = PieceServer("127.0.0.1", 0, catalog, lambda: VERIFIER, holds=in_test_group,
                         limits=ServerLimits(max_connections=12, max_per_address=6, max_pending_per_address=6))
    await server.start()
    conns: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
    try:
        for source in ("127.0.0.1", "127.0.0.2", "127.0.0.3"):
            for _ in range(10):
                conns.append(await asyncio.open_connection("127.0.0.1", server.port, local_addr=(source, 0)))
        # the server has taken as many as it may (not passing only because it has not looked yet)...
        await asyncio.wait_for(poll_until(lambda: server.connection_count == 12), 30)
        await asyncio.sleep(0.2)  # ... and, given the time to take more, takes no more
        assert server.connection_count <= 12
        assert all(len(group) <= 6 for group in server.connections.by_addr.values())
    finally:
        for _reader, writer in conns:
            writer.close()
        await server.close()


async def test_a_slow_loris_of_200_connections_does_not_stop_a_real_download(world: World) -> None:
    port = world.server.port
    # 100 raw TCP connections that never start TLS, and 100 that open the connection and then dribble a frame header.
    raw = [await asyncio.open_connection("127.0.0.1", port) for _ in range(100)]
    opened: list[SecureSocket] = []
    for _ in range(100):
        with contextlib.suppress(OSError):  # the pending cap may drop the oldest while later ones open
            opened.append(await asyncio.to_thread(SecureSocket, port))
            opened[-1].send(b"\x00")
    store = PieceStore.open_partial(world.tmp / "dl.part", world.tmp / "dl.state", world.meta)
    try:
        token = token_for(world.meta.sha256, fingerprint=world.me.fingerprint)
        engine = DownloadEngine(world.meta, store, static_source(token, [world.seeder_info()]),
                                config=EngineConfig(no_peer_timeout=10), tls=world.me)
        await engine.run()
        done = await store.finish(world.tmp / "out.bin")
        assert file_sha256(done) == world.meta.sha256
        # The loris connections were held to the pending cap of their address, not all 100 kept.
        assert world.server.connection_count <= LIMITS.max_pending_per_address + 2
    finally:
        store.close()
        for _reader, writer in raw:
            writer.close()
        for conn in opened:
            conn.close()


async def test_a_connection_that_never_starts_tls_is_closed_after_the_handshake_timeout(world: World) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", world.server.port)
    try:
        async with asyncio.timeout(LIMITS.handshake_timeout + 5):  # asyncio's default would hold it for 60 s
            assert await reader.read(100) == b""
    finally:
        writer.close()


async def test_a_peer_that_goes_silent_after_its_handshake_is_closed_after_the_idle_timeout(world: World) -> None:
    conn = await asyncio.to_thread(SecureSocket, world.server.port)
    token = token_for(world.meta.sha256, fingerprint=world.me.fingerprint).encode()
    proof = world.me.prove(conn.binding)
    try:
        conn.send(encode(Handshake(bytes.fromhex(world.meta.sha256), token, cert=world.me.cert_der, proof=proof)))
        got = await asyncio.to_thread(conn.read_all, LIMITS.idle_timeout + 5)
    finally:
        conn.close()
    events = FrameReceiver().feed(got)
    assert isinstance(events[0], Bitfield) and isinstance(events[-1], Goodbye) and "idle" in events[-1].reason


async def test_a_connection_kept_alive_past_its_token_s_expiry_is_closed(world: World) -> None:
    # A member who left (or anyone with an old token) must not keep a connection slot, and the HAVEs of a
    # partial file, for as long as they care to send KEEPALIVEs.
    conn = await asyncio.to_thread(SecureSocket, world.server.port)
    token = token_for(world.meta.sha256, fingerprint=world.me.fingerprint, ttl=3).encode()
    proof = world.me.prove(conn.binding)
    try:
        conn.send(encode(Handshake(bytes.fromhex(world.meta.sha256), token, cert=world.me.cert_der, proof=proof)))
        for _ in range(12):  # 6 s of keep-alives, well within the 2 s idle timeout each
            await asyncio.sleep(0.5)
            with contextlib.suppress(OSError):
                conn.send(encode(KeepAlive()))
        got = await asyncio.to_thread(conn.read_all, 1.0)
    finally:
        conn.close()
    events = FrameReceiver().feed(got)
    assert isinstance(events[0], Bitfield) and events[-1] == Goodbye("token expired")


@pytest.mark.parametrize("case", ["tampered record", "impossible length", "plaintext frame"])
async def test_a_broken_record_closes_that_connection_without_a_byte_of_any_piece(world: World, case: str) -> None:
    token = token_for(world.meta.sha256, fingerprint=world.me.fingerprint)
    bystander = asyncio.create_task(tls_talk(world, world.me, token, until_piece=True))
    conn = await asyncio.to_thread(SecureSocket, world.server.port)
    try:
        hello = encode(Handshake(bytes.fromhex(world.meta.sha256), token.encode(), cert=world.me.cert_der,
                                 proof=world.me.prove(conn.binding))) + encode(Request(0, 0, PIECE))
        if case == "tampered record":
            sealed = bytearray(conn.seal(hello))
            sealed[len(sealed) // 2] ^= 0x40
            conn.send_raw(bytes(sealed))
        elif case == "impossible length":
            conn.send_raw(struct.pack(">I", 0xFFFFFFF0))
        else:  # the peer protocol in clear after the opening: not a record
            conn.send_raw(hello)
        got = await asyncio.to_thread(conn.read_all)
    finally:
        conn.close()
    assert got == b"" and conn.hung_up  # closed at once, without a frame: nothing was opened, nothing answered
    assert any(isinstance(e, Piece) for e in await bystander)
