"""The node's web port (``peer_node.web_port``): a connection cap answered "busy" and deadlines on request heads,
over a bare application, with raw sockets on 127.0.0.1 and deadlines lowered through ``WebLimits``."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable

import pytest
from aiohttp import web

from peer_node import web_port
from peer_node.__main__ import web_runner
from peer_node.web_port import WebLimits, WebListener
from tests.swarm.helpers import poll_until

WAIT = 10.0  # bound of every wait: far above the lowered deadlines, so only a connection never closed fails it
GET = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
TRICKLED = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-a: "
Conn = tuple[asyncio.StreamReader, asyncio.StreamWriter]


async def _ok(request: web.Request) -> web.Response:
    return web.Response(text="ok")


async def _upload(request: web.Request) -> web.Response:
    return web.Response(text=f"got {len(await request.read())}")


@contextlib.asynccontextmanager
async def node_port(limits: WebLimits) -> AsyncIterator[WebListener]:
    app = web.Application()
    app.router.add_get("/healthz", _ok)
    app.router.add_post("/upload", _upload)
    runner = web_runner(app)
    await runner.setup()
    listener = WebListener(runner, limits)
    await listener.start("127.0.0.1", 0)
    try:
        yield listener
    finally:
        listener.close()
        await runner.cleanup()


async def closed(reader: asyncio.StreamReader) -> bytes:
    """Everything the server sends until it closes the connection."""
    got = b""
    with contextlib.suppress(ConnectionResetError):
        while chunk := await asyncio.wait_for(reader.read(65536), WAIT):
            got += chunk
    return got


async def ask(conn: Conn, request: bytes = GET) -> bytes:
    reader, writer = conn
    writer.write(request)
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), WAIT)
    length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
    return head + await asyncio.wait_for(reader.readexactly(length), WAIT)


async def until(predicate: Callable[[], bool]) -> None:
    await asyncio.wait_for(poll_until(predicate), WAIT)


async def test_over_the_cap_a_connection_is_answered_busy_and_a_real_request_still_gets_through() -> None:
    async with node_port(WebLimits(max_connections=5, first_byte=60, head=60)) as listener:
        conns: list[Conn] = []
        try:
            for _ in range(4):  # silent ones, well within their deadlines
                conns.append(await asyncio.open_connection("127.0.0.1", listener.port))
            await until(lambda: listener.connections_of("127.0.0.1") == 4)
            client = await asyncio.open_connection("127.0.0.1", listener.port)  # the fifth place: a real client
            assert (await ask(client)).startswith(b"HTTP/1.1 200")
            over = await asyncio.open_connection("127.0.0.1", listener.port)  # a sixth: busy, unread
            answer = await closed(over[0])
            over[1].close()
            assert answer.startswith(b"HTTP/1.1 503 ") and b"\r\nRetry-After: 2\r\n" in answer
            assert answer.endswith(b"\r\n\r\nerror: too many connections to this node at once; try again in 2 s\n")
            assert listener.refused == 1
            assert (await ask(client)).startswith(b"HTTP/1.1 200")  # the real client keeps its place
            client[1].close()
            await until(lambda: listener.connections_of("127.0.0.1") == 4)  # its place is free again
            again = await asyncio.open_connection("127.0.0.1", listener.port)
            assert (await ask(again)).startswith(b"HTTP/1.1 200")
            again[1].close()
        finally:
            for _, writer in conns:
                writer.close()
    assert listener.connections_of("127.0.0.1") == 0


async def test_silent_and_trickling_connections_are_cut_at_their_deadlines_an_idle_kept_one_is_not() -> None:
    async with node_port(WebLimits(max_connections=50, first_byte=0.3, head=0.6)) as listener:
        kept = await asyncio.open_connection("127.0.0.1", listener.port)
        assert (await ask(kept)).startswith(b"HTTP/1.1 200")  # then quiet: between requests, aiohttp's 75 s hold
        silent = await asyncio.open_connection("127.0.0.1", listener.port)
        trickling = await asyncio.open_connection("127.0.0.1", listener.port)
        second_head = await asyncio.open_connection("127.0.0.1", listener.port)
        assert (await ask(second_head)).startswith(b"HTTP/1.1 200")  # its first request is fine, its next is not

        async def trickle(writer: asyncio.StreamWriter) -> None:
            for i in range(100_000):  # a header byte every 20 ms: a head that never ends
                writer.write(TRICKLED[i:i + 1] or b"a")
                await asyncio.sleep(0.02)

        senders = [asyncio.create_task(trickle(w)) for w in (trickling[1], second_head[1])]
        try:
            assert await closed(silent[0]) == b""
            assert await closed(trickling[0]) == b""
            assert await closed(second_head[0]) == b""
            assert not any(s.done() for s in senders)  # they were still sending: cut mid-head, not finished
            assert listener.overdue == 3
            # The kept connection waited between requests longer than any head may take, and still serves.
            assert (await ask(kept)).startswith(b"HTTP/1.1 200")
        finally:
            for s in senders:
                s.cancel()
            for _, writer in (kept, silent, trickling, second_head):
                writer.close()


async def test_a_body_is_not_held_to_the_head_deadline_and_the_next_head_is() -> None:
    async with node_port(WebLimits(max_connections=50, first_byte=5, head=0.5)) as listener:
        conn = await asyncio.open_connection("127.0.0.1", listener.port)
        try:
            conn[1].write(b"POST /upload HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 40\r\n\r\n")
            for _ in range(40):  # a body slower than a head may be: an upload on a slow disk or link
                conn[1].write(b"x")
                await asyncio.sleep(0.03)
            head = await asyncio.wait_for(conn[0].readuntil(b"got 40"), WAIT)
            assert head.startswith(b"HTTP/1.1 200")
            conn[1].write(GET[:10])  # the next request's head, never finished
            assert await closed(conn[0]) == b""
            assert listener.overdue == 1
        finally:
            conn[1].close()


async def test_closing_the_listener_cuts_the_over_cap_connections_still_lingering(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(web_port, "LINGER", 3600.0)  # only the close can cut it within the test
    async with node_port(WebLimits(max_connections=1)) as listener:
        kept = await asyncio.open_connection("127.0.0.1", listener.port)
        await until(lambda: listener.connections_of("127.0.0.1") == 1)
        answered = await asyncio.open_connection("127.0.0.1", listener.port)
        assert (await asyncio.wait_for(answered[0].readuntil(b"try again in 2 s\n"), WAIT)).startswith(
            b"HTTP/1.1 503 ")
        assert listener._answers.lingering == 1
        listener.close()
        await until(lambda: listener._answers.lingering == 0)
        for _, writer in (kept, answered):
            writer.close()
