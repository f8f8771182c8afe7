"""Attacks on the tracker API: huge bodies (refused from the header, never buffered), overlong and hostile
names, quota exhaustion (groups per user, pending requests), a non-member and a removed member asking for files
and tokens, a duplicate approve. Real app factory, real SQLite file, real sockets."""

from __future__ import annotations

import asyncio
import stat
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from tests.tracker.helpers import Api, Clock, make_config
from tests.tracker.test_rules import file_body
from tracker_server.app import create_app
from tracker_server.keys import SERVICE
from tracker_server.quotas import Quotas


@pytest.fixture
async def api(aiohttp_client: Callable[..., Awaitable[Any]], tmp_path: Path) -> Api:
    return Api(await aiohttp_client(create_app(make_config(tmp_path / "data", Clock()))))


async def raw_http(port: int, head: bytes, body: bytes = b"", read_for: float = 5.0) -> bytes:
    """Send a hand-made request; return what came back before the server closed or ``read_for`` passed."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(head + body)
    await writer.drain()
    got = b""
    try:
        async with asyncio.timeout(read_for):
            while b"\r\n\r\n" not in got or not got.rstrip().endswith(b"}"):
                chunk = await reader.read(65536)
                if not chunk:
                    break
                got += chunk
    except TimeoutError:
        pass
    writer.close()
    return got


async def test_a_2_gib_body_is_refused_from_its_content_length_without_reading_it(api: Api) -> None:
    port = api.client.server.port
    assert port is not None
    head = (b"POST /api/v1/users HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Content-Length: 2147483648\r\n\r\n")
    answer = await raw_http(port, head, b'{"user_id": "x"')  # 15 of the 2 GiB claimed: the rest never comes
    assert answer.startswith(b"HTTP/1.1 413") and b"too_large" in answer


async def test_a_chunked_body_over_the_cap_is_refused(api: Api) -> None:
    async def endless() -> Any:
        for _ in range(64):
            yield b" " * 65536  # 4 MiB in all, no Content-Length

    resp = await api.client.post("/api/v1/sessions", data=endless())
    assert resp.status == 413


@pytest.mark.parametrize("field,value", [("user_id", "u" * 65), ("user_id", "../x"), ("user_id", "<script>"),
                                         ("user_id", "a\x00b"), ("password", "p" * 257)])
async def test_overlong_or_hostile_names_are_refused(api: Api, field: str, value: str) -> None:
    body = {"user_id": "alice", "password": "pw", field: value}
    status, data = await api.call("POST", "/api/v1/users", body)
    assert status == 400 and data["error"]["code"] == "bad_input"


@pytest.mark.parametrize("name", ["../x", "/etc/passwd", "a/b", "a\\b", "a\x00b", "a\x1bb", ".", "..",
                                  "é" * 128])
async def test_traversal_file_names_are_refused_at_share_and_at_lookup(api: Api, name: str) -> None:
    alice = await api.user("alice")
    await api.group_with(alice, "g1")
    status, _ = await api.call("POST", "/api/v1/groups/g1/files", file_body(name), alice)
    assert status == 400
    quoted = name.replace("/", "%2F").replace("\\", "%5C").replace("\x00", "%00").replace("\x1b", "%1B")
    status, _ = await api.call("GET", f"/api/v1/groups/g1/files/{quoted}", None, alice)
    assert status in (400, 404)  # never a file, never a token


async def test_a_group_named_script_is_refused(api: Api) -> None:
    alice = await api.user("alice")
    status, data = await api.call("POST", "/api/v1/groups", {"group_id": "<script>alert(1)</script>"}, alice)
    assert status == 400 and data["error"]["code"] == "bad_input"


async def test_groups_per_user_and_pending_requests_are_capped(api: Api) -> None:
    api.client.app[SERVICE].quotas = Quotas(groups_per_user=3, pending_per_user=2, pending_per_group=2)
    alice, bob, carol, dave, erin = [await api.user(n) for n in ("alice", "bob", "carol", "dave", "erin")]
    for gid in ("a1", "a2", "a3"):
        await api.ok("POST", "/api/v1/groups", {"group_id": gid}, alice, want=201)
    status, data = await api.call("POST", "/api/v1/groups", {"group_id": "a4"}, alice)
    assert status == 409 and "groups already" in data["error"]["message"]
    for gid in ("b1", "b2"):
        await api.ok("POST", "/api/v1/groups", {"group_id": gid}, bob, want=201)
    await api.ok("POST", "/api/v1/groups/a1/join", {}, bob, want=202)
    await api.ok("POST", "/api/v1/groups/a1/requests/bob/accept", {}, alice)
    assert (await api.call("POST", "/api/v1/groups/a2/join", {}, bob))[0] == 409  # bob is in 3 groups now
    await api.ok("POST", "/api/v1/groups/a1/join", {}, carol, want=202)
    await api.ok("POST", "/api/v1/groups/a1/join", {}, dave, want=202)
    assert (await api.call("POST", "/api/v1/groups/a1/join", {}, erin))[0] == 409  # a1 has 2 waiting
    await api.ok("POST", "/api/v1/groups/a2/join", {}, carol, want=202)
    assert (await api.call("POST", "/api/v1/groups/a3/join", {}, carol))[0] == 409  # carol has 2 waiting


async def test_file_listings_per_user_and_per_group_are_capped(api: Api) -> None:
    # A listing needs no real file: one account used to add about 14 MB a second of made-up listings to every
    # tracker's log and memory.
    api.client.app[SERVICE].quotas = Quotas(files_per_user=3, pieces_per_user=12, files_per_group=4)
    alice, bob = await api.user("alice"), await api.user("bob")
    await api.group_with(alice, "g1", bob)
    for name in ("a", "b", "c"):  # 3 pieces each (40,000 bytes in 16 KiB pieces)
        await api.ok("POST", "/api/v1/groups/g1/files", file_body(name), alice, want=201)
    await api.ok("POST", "/api/v1/groups/g1/files", file_body("a"), alice, want=201)  # again: costs nothing
    status, data = await api.call("POST", "/api/v1/groups/g1/files", file_body("d"), alice)
    assert status == 409 and "you share 3 files already (at most 3)" in data["error"]["message"]
    big = file_body("big", size=200_000)  # 13 pieces: over bob's budget on its own
    status, data = await api.call("POST", "/api/v1/groups/g1/files", big, bob)
    assert status == 409 and "(at most 12 in all)" in data["error"]["message"]
    await api.ok("POST", "/api/v1/groups/g1/files", file_body("e"), bob, want=201)  # g1: 4 files now
    status, data = await api.call("POST", "/api/v1/groups/g1/files", file_body("f"), bob)
    assert status == 409 and "g1 has 4 files already" in data["error"]["message"]
    await api.ok("POST", "/api/v1/groups/g1/files", file_body("a"), bob, want=201)  # a file already listed: fine
    await api.ok("DELETE", "/api/v1/groups/g1/files/c/share", {}, alice)  # stopping one makes room
    await api.ok("POST", "/api/v1/groups/g1/files", file_body("d"), alice, want=201)


async def test_a_non_member_and_a_removed_member_get_no_file_list_and_no_token(api: Api) -> None:
    alice, bob, eve = await api.user("alice"), await api.user("bob"), await api.user("eve")
    await api.group_with(alice, "g1", bob)
    await api.ok("POST", "/api/v1/groups/g1/files", file_body("secret.txt"), alice, want=201)
    assert (await api.ok("GET", "/api/v1/groups/g1/files/secret.txt", None, bob))["token"]  # bob may, for now
    for outsider in (eve, None):
        assert (await api.call("GET", "/api/v1/groups/g1/files", None, outsider))[0] in (401, 403)
        status, data = await api.call("GET", "/api/v1/groups/g1/files/secret.txt", None, outsider)
        assert status in (401, 403) and "token" not in data
    await api.ok("POST", "/api/v1/groups/g1/join", {}, eve, want=202)  # pending is not member
    assert (await api.call("GET", "/api/v1/groups/g1/files/secret.txt", None, eve))[0] == 403
    await api.ok("POST", "/api/v1/groups/g1/leave", {}, bob)  # bob is out now
    for path in ("/api/v1/groups/g1/files", "/api/v1/groups/g1/files/secret.txt"):
        status, data = await api.call("GET", path, None, bob)
        assert status == 403 and "token" not in data and "files" not in data
    info = await api.ok("GET", "/api/v1/groups/g1", None, bob)
    assert info["members"] == [] and info["my_status"] == "none"


async def test_a_duplicate_approve_admits_once(api: Api) -> None:
    alice, bob = await api.user("alice"), await api.user("bob")
    await api.ok("POST", "/api/v1/groups", {"group_id": "g1"}, alice, want=201)
    await api.ok("POST", "/api/v1/groups/g1/join", {}, bob, want=202)
    accept = "/api/v1/groups/g1/requests/bob/accept"
    first = await api.call("POST", accept, {"op_id": "approve-1"}, alice)
    again = await api.call("POST", accept, {"op_id": "approve-1"}, alice)  # a retry: same answer, applied once
    other = await api.call("POST", accept, {}, alice)  # a second approve: nothing pending any more
    assert first == again == (200, {}) and other[0] == 404
    members = (await api.ok("GET", "/api/v1/groups/g1", None, alice))["members"]
    assert sorted(m["user_id"] for m in members) == ["alice", "bob"]
    assert (await api.call("POST", "/api/v1/groups/g1/requests/bob/reject", {}, alice))[0] == 404
    assert (await api.call("POST", accept, {}, bob))[0] == 403  # and only the owner may approve at all


@pytest.mark.parametrize("path", ["/internal/v1/append", "/internal/v1/snapshot", "/internal/v1/status"])
async def test_an_unsigned_internal_message_is_refused_before_its_body_is_read(api: Api, path: str) -> None:
    port = api.client.server.port
    assert port is not None
    head = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"X-GS-From: 2\r\nX-GS-Time: 1800000000\r\nX-GS-Signature: {'0' * 64}\r\n"
            f"Content-Length: {400 << 20}\r\n\r\n").encode()
    answer = await raw_http(port, head, b'{"entries": [')  # 400 MiB claimed, inside the internal cap
    assert answer.startswith(b"HTTP/1.1 403")


async def test_a_slow_loris_of_200_http_connections_does_not_stop_a_login(api: Api) -> None:
    port = api.client.server.port
    assert port is not None
    loris = [await asyncio.open_connection("127.0.0.1", port) for _ in range(200)]
    try:
        for _reader, writer in loris:
            writer.write(b"POST /api/v1/sessions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\n")
        await api.user("alice")  # creates the user and logs in while 200 requests hang half-sent
    finally:
        for _reader, writer in loris:
            writer.close()


@pytest.mark.parametrize("digits", ["²", "٣", "𝟠"])  # str.isdigit() says yes, int() says no
async def test_unicode_digits_in_numbers_are_refused_not_crashed_on(api: Api, digits: str) -> None:
    await api.user("alice")
    body = {"user_id": "alice", "password": "pw-alice", "peer_addr": f"127.0.0.1:{digits}"}
    status, data = await api.call("POST", "/api/v1/sessions", body)
    assert status == 400 and data["error"]["code"] == "bad_input"
    forged = {"X-GS-Client": f"10.0.0.1 {digits}", "X-GS-Client-Signature": "0" * 64}
    resp = await api.client.post("/api/v1/sessions", json={**body, "peer_addr": "127.0.0.1:6005", "op_id": "o1"},
                                 headers=forged)
    assert resp.status == 200
    for header in ("X-GS-From", "X-GS-Time", "X-GS-Length"):
        headers = {"X-GS-From": "2", "X-GS-Time": "1800000000", "X-GS-Length": "2", "X-GS-Head-Signature": "0" * 64,
                   "X-GS-Signature": "0" * 64, header: digits}
        resp = await api.client.post("/internal/v1/status", data=b"{}", headers=headers)
        assert resp.status == 403


async def test_json_nested_past_the_recursion_limit_is_bad_input(api: Api) -> None:
    for path in ("/api/v1/users", "/api/v1/sessions", "/api/v1/heartbeat"):
        resp = await api.client.post(path, data=b"[" * 5000 + b"]" * 5000)
        assert resp.status == 400 and (await resp.json())["error"]["code"] == "bad_input"


async def test_the_trackers_database_is_private_to_its_user(api: Api, tmp_path: Path) -> None:
    await api.user("alice")  # session tokens and password hashes are in there now
    data = tmp_path / "data"
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    for path in data.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0, path
