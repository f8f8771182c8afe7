"""The tracker's fast path, served on 127.0.0.1 as ``python -m tracker_server`` serves it, with raw sockets.

Which side answered is visible: aiohttp sends a ``Server`` header, the fast path does not. The same requests are
sent on a fresh connection (the fast path) and on one that a non-hot request handed to aiohttp; the two answers
must agree in status, content type and body.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import aiohttp
import pytest
from aiohttp import web
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from peer_node.tracker_client import TrackerClient, is_hot
from tests.swarm.helpers import poll_until
from tracker_server import handlers
from tracker_server.app import create_app
from tracker_server.fastpath import FastPathListener
from wire.tracker_list import TrackerAddress

from .helpers import Api, Clock, make_config

HEALTH = b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n"


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def by_fast_path(self) -> bool:
        return "server" not in self.headers

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Tracker:
    port: int
    api: Api
    owner: str  # a member's session token, of group g1 with one shared file
    listener: FastPathListener

    async def connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        return await asyncio.open_connection("127.0.0.1", self.port)


class _Base:
    """What ``Api`` needs of a test client, over a plain ClientSession to the listener's port."""

    def __init__(self, session: aiohttp.ClientSession, port: int) -> None:
        self.session, self.url = session, f"http://127.0.0.1:{port}"

    def request(self, method: str, path: str, **kw: Any) -> Any:
        return self.session.request(method, self.url + path, **kw)


async def read_reply(reader: asyncio.StreamReader) -> Reply:
    head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
    status = int(head[0].split(" ")[1])
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in head[1:] if line)}
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return Reply(status, headers, body)


def hot(method: str, path: str, token: str, body: bytes = b"", extra: bytes = b"") -> bytes:
    length = b"Content-Length: %d\r\n" % len(body) if method == "POST" else b""
    return (b"%s %s HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer %s\r\n%s%s\r\n%s"
            % (method.encode(), path.encode(), token.encode(), length, extra, body))


def heartbeat(token: str, body: bytes = b'{"holdings": []}', extra: bytes = b"") -> bytes:
    return hot("POST", "/api/v1/heartbeat", token, body, extra)


def list_files(token: str, gid: str = "g1") -> bytes:
    return hot("GET", f"/api/v1/groups/{gid}/files", token)


@contextlib.asynccontextmanager
async def served(tmp_path: Path, **listener_options: Any) -> AsyncIterator[FastPathListener]:
    """A tracker app behind a fast-path listener on a free port, as ``python -m tracker_server`` serves it."""
    app = create_app(make_config(tmp_path / "data", Clock()))
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()
    listener = await FastPathListener.start(runner, app, "127.0.0.1", 0, 1 << 20, **listener_options)
    try:
        yield listener
    finally:
        listener.close()
        await runner.cleanup()


@pytest.fixture
async def tracker(tmp_path: Path) -> AsyncIterator[Tracker]:
    async with served(tmp_path) as listener, aiohttp.ClientSession() as session:
        api = Api(cast(Any, _Base(session, listener.port)))
        owner = await api.user("owner")
        await api.ok("POST", "/api/v1/groups", {"group_id": "g1"}, owner, want=201)
        await api.ok("POST", "/api/v1/groups/g1/files", {"file_name": "a.bin", "size": 5, "piece_size": 1 << 18,
                                                         "sha256": "ab" * 32, "piece_hashes": ["ab" * 32]}, owner)
        yield Tracker(listener.port, api, owner, listener)


async def test_hot_requests_get_the_same_answers_from_the_fast_path_and_from_aiohttp(tracker: Tracker) -> None:
    outsider = await tracker.api.user("outsider")
    holding = json.dumps({"holdings": [{"group_id": "g1", "file_sha256": "ab" * 32, "pieces": "all"}]}).encode()
    cases = [heartbeat(tracker.owner, holding), list_files(tracker.owner), heartbeat("nobody"),
             heartbeat(tracker.owner, b"{not json"), heartbeat(tracker.owner, b"[]"),
             heartbeat(tracker.owner, b'{"holdings": [{"group_id": "g1"}]}'), list_files(outsider),
             list_files(tracker.owner, "g-none"), list_files(tracker.owner, "bad!id"), list_files("nobody")]
    slow_reader, slow_writer = await tracker.connect()
    slow_writer.write(HEALTH)
    assert not (await read_reply(slow_reader)).by_fast_path
    statuses, paths = [], []
    for raw in cases:
        fast_reader, fast_writer = await tracker.connect()  # a fresh one: a handed-off connection stays aiohttp's
        fast_writer.write(raw)
        slow_writer.write(raw)
        fast, slow = await read_reply(fast_reader), await read_reply(slow_reader)
        assert not slow.by_fast_path
        assert (fast.status, fast.headers["content-type"], fast.json()) == \
            (slow.status, slow.headers["content-type"], slow.json())
        statuses.append(fast.status)
        paths.append(fast.by_fast_path)
        fast_writer.close()
    assert statuses == [200, 200, 401, 400, 400, 400, 403, 404, 400, 401]
    assert paths == [True] * 8 + [False, True]  # an invalid group id is aiohttp's to refuse
    listed = await tracker.api.ok("GET", "/api/v1/groups/g1/files", token=tracker.owner)
    assert [f["live_seeders"] for f in listed["files"]] == [1]  # the fast heartbeat was applied
    slow_writer.close()


async def test_pipelined_mixed_requests_are_answered_in_order_across_the_hand_off(tracker: Tracker) -> None:
    reader, writer = await tracker.connect()
    create = b'{"group_id": "g2", "op_id": "op-1"}'
    writer.write(heartbeat(tracker.owner) + list_files(tracker.owner)
                 + hot("POST", "/api/v1/groups", tracker.owner, create) + heartbeat(tracker.owner)
                 + list_files(tracker.owner, "g2"))
    replies = [await read_reply(reader) for _ in range(5)]
    assert [r.status for r in replies] == [200, 200, 201, 200, 200]
    assert [r.by_fast_path for r in replies] == [True, True, False, False, False]
    assert replies[4].json() == {"files": [], "offline": []}
    writer.close()


async def test_a_request_split_into_single_bytes_gets_one_answer(tracker: Tracker) -> None:
    reader, writer = await tracker.connect()
    for byte in heartbeat(tracker.owner):
        writer.write(bytes([byte]))
        await writer.drain()
    reply = await read_reply(reader)
    assert (reply.status, reply.by_fast_path) == (200, True)
    writer.write(list_files(tracker.owner))
    assert (await read_reply(reader)).status == 200
    writer.close()


async def test_a_malformed_hot_request_is_answered_by_aiohttp(tracker: Tracker) -> None:
    reader, writer = await tracker.connect()
    writer.write(b"POST /api/v1/heartbeat HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\n"
                 b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
    reply = await read_reply(reader)
    assert (reply.status, reply.by_fast_path) == (400, False)
    writer.close()


async def test_a_body_over_the_limit_gets_the_apis_too_large_error(tracker: Tracker) -> None:
    reader, writer = await tracker.connect()
    writer.write(b"POST /api/v1/heartbeat HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n" % ((1 << 20) + 1))
    writer.write(b"x" * ((1 << 20) + 1))
    reply = await read_reply(reader)
    assert (reply.status, reply.json()["error"]["code"], reply.by_fast_path) == (413, "too_large", False)
    writer.close()


async def test_connection_close_is_honoured(tracker: Tracker) -> None:
    reader, writer = await tracker.connect()
    writer.write(heartbeat(tracker.owner, extra=b"Connection: close\r\n") + heartbeat(tracker.owner))
    reply = await read_reply(reader)
    assert (reply.status, reply.headers["connection"], reply.by_fast_path) == (200, "close", True)
    assert await reader.read() == b""  # closed: the second request was not answered
    writer.close()


async def test_an_unexpected_failure_is_a_500_and_the_connection_goes_on(tracker: Tracker,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: object) -> bytes:
        raise RuntimeError("a bug")

    monkeypatch.setattr(handlers, "heartbeat_answer", broken)
    reader, writer = await tracker.connect()
    writer.write(heartbeat(tracker.owner) + list_files(tracker.owner))
    failed, listed = await read_reply(reader), await read_reply(reader)
    assert (failed.status, failed.json()["error"]["code"], listed.status) == (500, "internal_error", 200)
    writer.close()


async def test_a_client_that_does_not_read_stops_being_read_and_then_gets_every_answer(tracker: Tracker) -> None:
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # so the kernel does not absorb the answers
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", tracker.port))
    reader, writer = await asyncio.open_connection(sock=sock)
    count = 20_000
    batch = list_files(tracker.owner) * 1000
    for _ in range(count // 1000):  # about 1.6 MB of requests, about 4 MB of answers nobody reads yet
        writer.write(batch)
    # The client's StreamReader stops reading once its buffer is full; then the fast path must stop answering,
    # and reading (a wait, bounded, rather than a sleep that a slow machine could outrun).
    await asyncio.wait_for(poll_until(lambda: tracker.listener.paused_connections() == 1), 30)
    replies = [await read_reply(reader) for _ in range(count)]
    assert {r.status for r in replies} == {200}
    writer.close()


async def test_closing_the_listener_closes_its_idle_connections(tracker: Tracker) -> None:
    reader, writer = await tracker.connect()
    writer.write(heartbeat(tracker.owner))
    assert (await read_reply(reader)).status == 200
    tracker.listener.close()
    assert await asyncio.wait_for(reader.read(), 5) == b""
    writer.close()


json_leaf = st.one_of(st.none(), st.booleans(), st.integers(-(1 << 70), 1 << 70), st.text(max_size=20),
                      st.sampled_from(["all", "g1", "ab" * 32, "AAAA", "\x00"]))
json_values = st.recursive(json_leaf, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
    st.sampled_from(["holdings", "group_id", "file_sha256", "pieces"]), inner, max_size=4), max_leaves=10)
hot_bodies = st.one_of(json_values.map(lambda v: json.dumps(v).encode()), st.binary(max_size=80))
benign_headers = st.lists(st.sampled_from([b"Accept: */*\r\n", b"User-Agent: fuzz/1\r\n", b"X-Trace: a\tb  \r\n",
                                           b"Connection: keep-alive\r\n", b"Content-Type: text/plain\r\n"]),
                          unique=True, max_size=3)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=hot_bodies, headers=benign_headers, token_ok=st.booleans())
async def test_any_heartbeat_body_gets_the_answer_aiohttp_gives(tracker: Tracker, body: bytes,
                                                                headers: list[bytes], token_ok: bool) -> None:
    raw = heartbeat(tracker.owner if token_ok else "nobody", body, b"".join(headers))
    fast_reader, fast_writer = await tracker.connect()
    slow_reader, slow_writer = await tracker.connect()
    slow_writer.write(HEALTH + raw)
    fast_writer.write(raw)
    await read_reply(slow_reader)
    fast, slow = await read_reply(fast_reader), await read_reply(slow_reader)
    assert fast.by_fast_path and not slow.by_fast_path
    assert (fast.status, fast.json()) == (slow.status, slow.json())
    assert fast.status < 500
    for writer in (fast_writer, slow_writer):
        writer.close()


async def test_a_nodes_tracker_client_keeps_its_heartbeats_and_file_lists_on_the_fast_path(tracker: Tracker) -> None:
    client = TrackerClient([TrackerAddress("127.0.0.1", tracker.port, 1)])
    try:
        login = await client.write("POST", "/sessions", {"user_id": "owner", "password": "pw-owner",
                                                         "peer_addr": "127.0.0.1:6005"}, auth=False)  # the fixture's
        client.session_token = login["session"]
        before = tracker.listener.counts.answered
        for _ in range(3):
            await client.call("POST", "/heartbeat", {"holdings": [{"group_id": "g1", "file_sha256": "ab" * 32,
                                                                    "pieces": "all"}]})
            assert (await client.get("/groups/g1/files"))["files"][0]["file_name"] == "a.bin"
            await client.get("/groups/g1")  # another read between them, on the other pool
        assert tracker.listener.counts.answered - before == 6
    finally:
        await client.close()


@pytest.mark.parametrize(("method", "path", "hot"), [
    ("POST", "/heartbeat", True), ("GET", "/groups/g1/files", True), ("GET", "/groups/g1/files/a.bin", False),
    ("POST", "/groups/g1/files", False), ("GET", "/groups/g1", False), ("GET", "/heartbeat", False)])
def test_which_calls_a_node_sends_on_its_hot_pool(method: str, path: str, hot: bool) -> None:
    assert is_hot(method, path) is hot


async def test_a_connection_quiet_past_the_idle_timeout_is_closed_and_a_busy_one_is_not(tmp_path: Path) -> None:
    async with served(tmp_path, idle_timeout=1.0, sweep_every=0.1) as listener:
        quiet_reader, quiet_writer = await asyncio.open_connection("127.0.0.1", listener.port)
        busy_reader, busy_writer = await asyncio.open_connection("127.0.0.1", listener.port)
        quiet_writer.write(HEALTH[:10])  # a request begun and never finished
        for _ in range(15):  # 1.5 s of a request every 0.1 s (answered 401: no session), past the timeout
            busy_writer.write(heartbeat("nobody"))
            assert (await read_reply(busy_reader)).status == 401
            await asyncio.sleep(0.1)
        assert await asyncio.wait_for(quiet_reader.read(), 5) == b""  # closed by the sweep
        busy_writer.write(heartbeat("nobody"))
        assert (await read_reply(busy_reader)).status == 401  # still open
        for writer in (quiet_writer, busy_writer):
            writer.close()

