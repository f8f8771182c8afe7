"""The downloader's end of a secure connection (``secure_channel.connect`` and ``ClientChannel``) against the
seeder's ``ServerChannel``: exact bytes whatever memory the protocol offers, writes, end of stream, abort while
the seeder streams, a seeder that hangs up while opening."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from peer_node.swarm import secure_channel
from peer_node.swarm.secure_channel import ServerChannel
from peer_node.swarm.tls import client_context, load_or_create_identity, server_fingerprint
from tests.swarm.helpers import poll_until
from wire.bulk_records import MAX_PLAINTEXT

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


class Collector(asyncio.BufferedProtocol):
    """Offers buffers of one size (small and odd, as the frame receiver's for headers, or larger than any record,
    as a piece buffer) and keeps what arrives."""

    def __init__(self, offered: int = 7777) -> None:
        self.data = bytearray()
        self.buf = bytearray(offered)
        self.eof = 0
        self.lost: list[Exception | None] = []
        self.gone = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def get_buffer(self, sizehint: int) -> memoryview:
        return memoryview(self.buf)

    def buffer_updated(self, nbytes: int) -> None:
        self.data += self.buf[:nbytes]

    def eof_received(self) -> bool | None:
        self.eof += 1
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost.append(exc)
        if not self.gone.done():
            self.gone.set_result(None)


@pytest.fixture
async def tls_server(tmp_path: Path) -> AsyncIterator[Callable[[Handler], Awaitable[tuple[int, str]]]]:
    identity = load_or_create_identity(tmp_path / "id")
    servers: list[asyncio.Server] = []

    async def start(handler: Handler) -> tuple[int, str]:
        context = identity.server_context()

        def channel() -> ServerChannel:  # the seeder's end: TLS opening, then sealed records, for a stream handler
            return ServerChannel(context, asyncio.StreamReaderProtocol(asyncio.StreamReader(), handler))

        server = await asyncio.get_running_loop().create_server(channel, "127.0.0.1", 0)
        servers.append(server)
        return server.sockets[0].getsockname()[1], identity.fingerprint

    yield start
    for server in servers:
        server.close()
        await server.wait_closed()


@pytest.mark.parametrize("offered", [7777, 2 * MAX_PLAINTEXT], ids=["via scratch", "opened in place"])
async def test_stream_arrives_exactly_writes_go_out_and_eof_is_reported(tls_server, offered: int) -> None:  # type: ignore[no-untyped-def]
    payload = hashlib.shake_256(b"tls stream").digest(3 * MAX_PLAINTEXT + 12345)
    got_from_client = asyncio.get_running_loop().create_future()

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        got_from_client.set_result(await reader.readexactly(11))
        writer.write(payload)
        await writer.drain()
        writer.close()

    port, fingerprint = await tls_server(handler)
    proto = Collector(offered)
    transport = await secure_channel.connect("127.0.0.1", port, client_context(), proto)
    assert server_fingerprint(transport) == fingerprint
    transport.write(b"hello ")
    transport.write(b"world")
    assert await asyncio.wait_for(got_from_client, 10) == b"hello world"
    await asyncio.wait_for(proto.gone, 10)
    assert bytes(proto.data) == payload
    assert proto.eof == 1 and proto.lost == [None]
    assert transport.is_closing()


async def test_abort_while_the_seeder_streams_ends_the_connection_at_both_ends(tls_server) -> None:  # type: ignore[no-untyped-def]
    ended = asyncio.get_running_loop().create_future()

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        block = bytes(1 << 20)
        try:
            await reader.readexactly(2)  # the connection is open: from here on drain() paces the writes
            while True:
                writer.write(block)
                await writer.drain()
        except (ConnectionError, OSError) as exc:
            ended.set_result(exc)
        finally:
            writer.close()

    port, _ = await tls_server(handler)
    proto = Collector()
    transport = await secure_channel.connect("127.0.0.1", port, client_context(), proto)
    transport.write(b"go")
    await asyncio.wait_for(poll_until(lambda: len(proto.data) > 0), 30)  # bytes are flowing: cut them off now
    transport.abort()
    await asyncio.wait_for(proto.gone, 10)
    assert proto.lost == [None] and proto.eof == 0 and len(proto.data) > 0
    assert isinstance(await asyncio.wait_for(ended, 10), ConnectionError | OSError)


async def test_a_server_that_hangs_up_mid_handshake_is_an_error() -> None:
    server = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        with pytest.raises((ConnectionError, OSError)):
            await secure_channel.connect("127.0.0.1", port, client_context(), Collector())
    finally:
        server.close()
        await server.wait_closed()
