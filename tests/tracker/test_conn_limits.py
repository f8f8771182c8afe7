"""The tracker's connection limits, served on 127.0.0.1 as ``python -m tracker_server`` serves them, with raw sockets.

Each test sets small deadlines and asserts only that a connection is answered or closed (``asyncio.wait_for``
bounds each wait generously; nothing here measures time). See ``conn_guard.py`` for what the audit found.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, cast

import aiohttp
import pytest

from peer_node.tracker_client import TrackerClient
from peer_node.tracker_patience import PATIENCE_S
from tests.swarm.helpers import poll_until
from tracker_server import fastpath
from tracker_server.__main__ import app_runner
from tracker_server.app import BODY_DEADLINE, create_app
from tracker_server.fastpath import FastPathListener
from wire.quiet_log import AIOHTTP_SERVER, quiet_aiohttp_server_log
from wire.tracker_list import TrackerAddress

from .helpers import Api, Clock, make_config
from .test_fastpath import HEALTH, _Base, heartbeat, read_reply

WAIT = 10.0  # bound of every wait: far above the deadlines, so only a connection never closed fails it
MIB = 1 << 20


@contextlib.asynccontextmanager
async def served(tmp_path: Path, body_deadline: float = 20.0, **options: Any) -> AsyncIterator[tuple[FastPathListener,
                                                                                                       str]]:
    """A tracker behind its fast-path listener, and the session token of a logged-in user."""
    app = create_app(make_config(tmp_path / "data", Clock()))
    app[BODY_DEADLINE] = body_deadline
    runner = app_runner(app)
    await runner.setup()
    listener = await FastPathListener.start(runner, app, "127.0.0.1", 0, MIB, sweep_every=0.05, **options)
    try:
        async with aiohttp.ClientSession() as session:
            token = await Api(cast(Any, _Base(session, listener.port))).user("owner")
        yield listener, token
    finally:
        listener.close()
        await runner.cleanup()


async def connect(listener: FastPathListener) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", listener.port)


async def closed(reader: asyncio.StreamReader) -> bool:
    """Whether the tracker closes the connection (after whatever it still sends, which is dropped)."""
    with contextlib.suppress(ConnectionResetError):
        while await asyncio.wait_for(reader.read(65536), WAIT):
            pass
    return True


def big_head(path: str, token: str | None) -> bytes:
    auth = b"Authorization: Bearer %s\r\n" % token.encode() if token is not None else b""
    return b"POST %s HTTP/1.1\r\nHost: t\r\n%sContent-Length: %d\r\n\r\n" % (path.encode(), auth, MIB)


@pytest.mark.parametrize("token", [None, "no-such-session"])
async def test_a_heartbeat_without_a_live_session_is_refused_before_its_body_and_closed(tmp_path: Path,
                                                                                       token: str | None) -> None:
    async with served(tmp_path) as (listener, _):
        reader, writer = await connect(listener)
        writer.write(big_head("/api/v1/heartbeat", token) + b"x" * 1000)  # 1 MiB announced, 1000 bytes sent
        reply = await asyncio.wait_for(read_reply(reader), WAIT)
        assert (reply.status, reply.json()["error"]["code"]) == (401, "not_logged_in")
        assert (reply.by_fast_path, reply.headers["connection"]) == (True, "close")
        assert await closed(reader)
        assert listener.counts.refused_early == 1
        writer.close()


async def test_a_heartbeat_with_a_live_session_is_answered_when_its_trickled_body_is_complete(tmp_path: Path) -> None:
    async with served(tmp_path) as (listener, token):
        reader, writer = await connect(listener)
        request = heartbeat(token, b'{"holdings": []' + b" " * 3000 + b"}")
        cut = request.index(b"\r\n\r\n") + 4
        writer.write(request[:cut])
        for i in range(cut, len(request), 100):  # the body in 31 pieces: the head is not framed again for each
            writer.write(request[i:i + 100])
            await writer.drain()
        reply = await asyncio.wait_for(read_reply(reader), WAIT)
        assert (reply.status, reply.by_fast_path) == (200, True)
        writer.close()


async def test_a_request_the_fast_path_does_not_answer_goes_to_aiohttp_before_its_body(tmp_path: Path) -> None:
    async with served(tmp_path) as (listener, _):
        _, writer = await connect(listener)
        writer.write(big_head("/api/v1/users", None) + b"{")
        await asyncio.wait_for(poll_until(lambda: listener.counts.handed_off == 1), WAIT)
        writer.close()


async def test_a_body_handed_to_aiohttp_that_misses_its_deadline_gets_408_and_the_connection_closes(
        tmp_path: Path) -> None:
    async with served(tmp_path, body_deadline=0.3) as (listener, _):
        reader, writer = await connect(listener)
        writer.write(b"POST /api/v1/users HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\n{")
        reply = await asyncio.wait_for(read_reply(reader), WAIT)
        assert (reply.status, reply.json()["error"]["code"], reply.by_fast_path) == (408, "timeout", False)
        assert await closed(reader)
        writer.close()


@pytest.mark.parametrize("token", [None, "no-such-session"])
async def test_a_large_body_without_a_live_session_is_refused_by_aiohttp_before_it_is_read(
        tmp_path: Path, token: str | None) -> None:
    async with served(tmp_path) as (listener, _):
        reader, writer = await connect(listener)
        writer.write(big_head("/api/v1/users", token) + b"{")  # 1 MiB announced, 1 byte sent
        reply = await asyncio.wait_for(read_reply(reader), WAIT)
        assert (reply.status, reply.json()["error"]["code"], reply.by_fast_path) == (413, "too_large", False)
        assert await closed(reader)
        writer.close()


async def test_a_large_body_with_a_live_session_is_still_read(tmp_path: Path) -> None:
    async with served(tmp_path) as (listener, token):
        reader, writer = await connect(listener)
        body = b'{"group_id": "g1", "op_id": "op1", "pad": "' + b"x" * 200_000 + b'"}'
        writer.write(b"POST /api/v1/groups HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer %s\r\n"
                     b"Content-Length: %d\r\n\r\n%s" % (token.encode(), len(body), body))
        assert (await asyncio.wait_for(read_reply(reader), WAIT)).status == 201
        writer.close()


async def test_a_trickled_request_is_closed_at_its_deadline_though_never_idle(tmp_path: Path) -> None:
    async with served(tmp_path, request_timeout=0.5, idle_timeout=60.0) as (listener, token):
        reader, writer = await connect(listener)
        request = heartbeat(token, b'{"holdings": []}' + b" " * 1000)

        async def trickle() -> None:
            for byte in request:  # a byte every 20 ms: far more often than the idle timeout
                writer.write(bytes([byte]))
                await asyncio.sleep(0.02)

        sender = asyncio.create_task(trickle())
        try:
            assert await closed(reader)
            assert not sender.done() and listener.counts.overdue == 1
        finally:
            sender.cancel()
            writer.close()


async def test_a_connection_that_sends_nothing_is_closed_at_the_first_byte_deadline(tmp_path: Path) -> None:
    async with served(tmp_path, first_byte_timeout=0.3, idle_timeout=60.0) as (listener, token):
        silent_reader, silent_writer = await connect(listener)
        reader, writer = await connect(listener)
        writer.write(heartbeat(token))
        assert (await asyncio.wait_for(read_reply(reader), WAIT)).status == 200
        assert await closed(silent_reader)
        writer.write(heartbeat(token))  # the one that spoke is idle now, under the long idle timeout: still open
        assert (await asyncio.wait_for(read_reply(reader), WAIT)).status == 200
        for w in (silent_writer, writer):
            w.close()


async def test_connections_over_the_cap_per_address_are_answered_busy_and_closed_counting_handed_off_ones(
        tmp_path: Path) -> None:
    async with served(tmp_path, max_per_address=3) as (listener, token):
        await asyncio.wait_for(poll_until(lambda: listener.connections_of("127.0.0.1") == 0), WAIT)  # setup's gone
        kept = [await connect(listener) for _ in range(3)]
        kept[0][1].write(HEALTH)  # aiohttp's from now on
        assert (await asyncio.wait_for(read_reply(kept[0][0]), WAIT)).by_fast_path is False
        await asyncio.wait_for(poll_until(lambda: listener.connections_of("127.0.0.1") == 3), WAIT)
        over_reader, over_writer = await connect(listener)
        over_writer.write(heartbeat(token))  # never read: the answer is the same whatever was asked
        reply = await asyncio.wait_for(read_reply(over_reader), WAIT)
        assert (reply.status, reply.headers["retry-after"], reply.headers["connection"]) == (503, "2", "close")
        assert reply.json()["error"] == {"code": "unavailable",
                                         "message": "too many connections from your address at once; try again "
                                                    "in 2 s"}
        assert await closed(over_reader)
        assert (listener.counts.over_cap, listener.counts.over_cap_reset) == (1, 0)
        kept[0][1].close()  # the handed-off one goes: a place is free once the sweep sees it closed
        await asyncio.wait_for(poll_until(lambda: listener.connections_of("127.0.0.1") == 2), WAIT)
        reader, writer = await connect(listener)
        writer.write(heartbeat(token))
        assert (await asyncio.wait_for(read_reply(reader), WAIT)).status == 200
        for _, w in [*kept[1:], (over_reader, over_writer), (reader, writer)]:
            w.close()


async def test_an_over_cap_connection_is_answered_before_it_sends_anything_and_past_the_answers_cap_reset(
        tmp_path: Path) -> None:
    """The answer costs no read of the request: it comes at once, to a client that has sent nothing. Answers still
    lingering are bounded: past ``over_cap_answers`` of them, an over-cap connection is reset, as before."""
    async with served(tmp_path, max_per_address=1, over_cap_answers=1) as (listener, _):
        await asyncio.wait_for(poll_until(lambda: listener.connections_of("127.0.0.1") == 0), WAIT)
        kept = await connect(listener)
        answered = await connect(listener)
        assert (await asyncio.wait_for(read_reply(answered[0]), WAIT)).status == 503
        reset = await connect(listener)
        with contextlib.suppress(ConnectionResetError):
            assert await asyncio.wait_for(reset[0].read(65536), WAIT) == b""  # no answer: closed
        assert (listener.counts.over_cap, listener.counts.over_cap_reset) == (2, 1)
        await asyncio.wait_for(poll_until(lambda: listener._shared.over_cap.lingering == 0), WAIT)  # cut in time
        for _, w in (kept, answered, reset):
            w.close()


async def test_closing_the_listener_cuts_the_over_cap_connections_still_lingering(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An answered over-cap connection is in no list the listener closes: a tracker that stops within ``LINGER``
    of one must cut it too (not leave it, and its timer, to a loop that is closing), and give its place back."""
    monkeypatch.setattr(fastpath, "LINGER", 3600.0)  # only the close can cut it within the test
    async with served(tmp_path, max_per_address=1) as (listener, _):
        await asyncio.wait_for(poll_until(lambda: listener.connections_of("127.0.0.1") == 0), WAIT)
        kept = await connect(listener)
        answered = await connect(listener)
        assert (await asyncio.wait_for(read_reply(answered[0]), WAIT)).status == 503
        assert listener._shared.over_cap.lingering == 1
        listener.close()
        assert await closed(answered[0])
        await asyncio.wait_for(poll_until(lambda: listener._shared.over_cap.lingering == 0), WAIT)
        for _, w in (kept, answered):
            w.close()


async def test_the_node_waits_out_an_over_cap_answer_and_gets_through_once_a_place_is_free(tmp_path: Path) -> None:
    async with served(tmp_path, max_per_address=2) as (listener, token):
        await asyncio.wait_for(poll_until(lambda: listener.connections_of("127.0.0.1") == 0), WAIT)
        held = [await connect(listener) for _ in range(2)]
        client = TrackerClient([TrackerAddress("127.0.0.1", listener.port, 1)], timeout_s=5, retry_s=0)
        client.session_token = token
        try:
            call = asyncio.create_task(client.get("/groups"))
            await asyncio.wait_for(poll_until(lambda: listener.counts.over_cap >= 1), WAIT)
            for _, w in held:
                w.close()
            answer = await asyncio.wait_for(call, WAIT + PATIENCE_S)
        finally:
            await client.close()
        assert "groups" in answer and listener.counts.over_cap_reset == 0


async def test_malformed_requests_log_one_short_line_not_a_traceback_each(tmp_path: Path,
                                                                          caplog: pytest.LogCaptureFixture) -> None:
    quiet = quiet_aiohttp_server_log(every=3600.0)
    try:
        async with served(tmp_path) as (listener, _):
            with caplog.at_level(logging.DEBUG, logger=AIOHTTP_SERVER):
                for _ in range(5):  # a second request on each: aiohttp logs a bad first request at debug level
                    reader, writer = await connect(listener)
                    writer.write(HEALTH)
                    assert (await asyncio.wait_for(read_reply(reader), WAIT)).status == 200
                    writer.write(b"GET /healthz HTTP/1.1\r\nHost: t\r\nBad header line\r\n\r\n")
                    assert (await asyncio.wait_for(read_reply(reader), WAIT)).status == 400
                    writer.close()
        logged = [r for r in caplog.records if r.name == AIOHTTP_SERVER]
        assert len(logged) == 1 and logged[0].exc_info is None and "\n" not in logged[0].getMessage()
    finally:
        logging.getLogger(AIOHTTP_SERVER).removeFilter(quiet)
