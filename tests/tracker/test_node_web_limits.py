"""The node's web port (browser UI and ``/cmd``) closes connections that never finish a request's head.

Here rather than in tests/node: it tests the runner settings of ``peer_node.__main__`` alone, over a bare
application, with raw sockets on 127.0.0.1. aiohttp has no deadline for a head of its own; its keep-alive timer,
which runs from the connection's start and is not reset by incoming bytes, is that deadline (``KEEPALIVE_S``).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from aiohttp import web

from peer_node.__main__ import KEEPALIVE_S, web_runner

from .test_conn_limits import WAIT, closed

HEAD = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-a: "


async def _ok(request: web.Request) -> web.Response:
    return web.Response(text="ok")


@contextlib.asynccontextmanager
async def node_port(keepalive: float) -> AsyncIterator[int]:
    app = web.Application()
    app.router.add_get("/healthz", _ok)
    runner = web_runner(app, keepalive_timeout=keepalive)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        server = site._server
        assert isinstance(server, asyncio.Server)
        yield int(server.sockets[0].getsockname()[1])
    finally:
        await runner.cleanup()


def test_the_node_keeps_an_idle_connection_far_less_than_aiohttps_hour() -> None:
    assert 15 < KEEPALIVE_S <= 75


async def test_a_silent_connection_and_a_trickled_head_are_both_closed() -> None:
    async with node_port(keepalive=0.5) as port:
        silent_reader, silent_writer = await asyncio.open_connection("127.0.0.1", port)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)

        async def trickle() -> None:
            for i in range(10_000):  # a header byte every 20 ms: a head that never ends
                writer.write(HEAD[i:i + 1] or b"a")
                await asyncio.sleep(0.02)

        sender = asyncio.create_task(trickle())
        try:
            assert await closed(reader)
            assert not sender.done()
            assert await asyncio.wait_for(closed(silent_reader), WAIT)
        finally:
            sender.cancel()
            for w in (silent_writer, writer):
                w.close()


async def test_a_request_is_still_answered_on_the_node_port() -> None:
    async with node_port(keepalive=KEEPALIVE_S) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert (await asyncio.wait_for(reader.readuntil(b"ok"), WAIT)).startswith(b"HTTP/1.1 200")
        writer.close()
