"""Attacks on the node's web port (the UI and /cmd): huge bodies, cross-site requests, DNS rebinding
(``Host: evil.example``), forms without the CSRF token, and markup in names, against the real node app."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.offline_node import api_key, start_offline_node


@dataclass
class Node:
    client: Any
    port: int
    key: str

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@pytest.fixture
async def node(aiohttp_client: Callable[..., Awaitable[Any]], tmp_path: Path) -> Node:
    client, config = await start_offline_node(aiohttp_client, tmp_path)
    return Node(client, config.web_port, api_key(config))


async def raw_http(port: int, request: bytes, read_for: float = 5.0) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request)
    await writer.drain()
    got = b""
    try:
        async with asyncio.timeout(read_for):
            while b"\r\n\r\n" not in got:
                chunk = await reader.read(65536)
                if not chunk:
                    break
                got += chunk
    except TimeoutError:
        pass
    writer.close()
    return got


@pytest.mark.parametrize("path", ["/cmd", "/login", "/groups", "/groups/g1/share"])
async def test_a_2_gib_body_is_refused_from_its_content_length(node: Node, path: str) -> None:
    head = (f"POST {path} HTTP/1.1\r\nHost: {node.host}\r\nAuthorization: Bearer {node.key}\r\n"
            f"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 2147483648\r\n\r\n").encode()
    answer = await raw_http(node.port, head + b"user_id=a&")  # the rest of the 2 GiB never comes
    assert answer.startswith(b"HTTP/1.1 413")


@pytest.mark.parametrize("path", ["/cmd", "/login", "/groups", "/groups/g1/join", "/logout", "/downloads/remove",
                                  "/downloads/upload-limit"])
async def test_a_cross_site_post_is_refused(node: Node, path: str) -> None:
    for origin in ("http://evil.example", "null", f"http://127.0.0.1:{node.port + 1}"):
        resp = await node.client.post(path, data=b"help", headers={
            "Origin": origin, "Authorization": f"Bearer {node.key}"})
        assert resp.status == 403, (path, origin)


@pytest.mark.parametrize("path", ["/", "/login", "/groups", "/downloads", "/healthz", "/api/status"])
async def test_dns_rebinding_host_is_refused_on_every_route(node: Node, path: str) -> None:
    resp = await node.client.get(path, headers={"Host": "evil.example", "Authorization": f"Bearer {node.key}"})
    assert resp.status == 403
    resp = await node.client.post("/cmd", data=b"help", headers={"Host": f"evil.example:{node.port}",
                                                                 "Authorization": f"Bearer {node.key}"})
    assert resp.status == 403


async def test_a_form_without_the_sessions_csrf_token_is_refused(node: Node) -> None:
    for form in ({"user_id": "alice", "password": "pw"}, {"user_id": "alice", "password": "pw", "csrf_token": "x"}):
        resp = await node.client.post("/login", data=form, headers={"Origin": node.origin})
        assert resp.status == 403


async def test_markup_in_a_name_is_rendered_as_text(node: Node) -> None:
    resp = await node.client.get("/login?user=%3Cscript%3Ealert(1)%3C%2Fscript%3E")
    page = await resp.text()
    assert resp.status == 200 and "<script>alert(1)" not in page and "&lt;script&gt;alert(1)" in page
    assert "script-src 'self'" in resp.headers["Content-Security-Policy"]
    resp = await node.client.post("/cmd", data=b"create_group '<script>alert(1)</script>'",
                                  headers={"Authorization": f"Bearer {node.key}"})
    assert resp.status == 400 and resp.content_type == "text/plain"  # never HTML, and refused before any call


form_values = st.one_of(st.text(max_size=80), st.sampled_from(["", "../x", "<script>", "a\x00b", "x" * 2000]))


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.sampled_from(["/login", "/register", "/groups", "/logout", "/groups/g1/join", "/groups/g1/download",
                        "/downloads/retry", "/downloads/remove", "/downloads/upload-limit"]),
       st.dictionaries(st.sampled_from(["user_id", "password", "password2", "group_id", "next", "file_name",
                                        "destination", "back", "rate", "x"]), form_values, max_size=5),
       st.one_of(st.none(), st.binary(max_size=300)))
async def test_fuzzed_forms_with_a_valid_csrf_token_never_crash_the_ui(node: Node, path: str, fields: dict[str, str],
                                                                       raw: bytes | None) -> None:
    page = await (await node.client.get("/login")).text()
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token is not None
    headers = {"Origin": node.origin}
    if raw is None:
        resp = await node.client.post(path, data={**fields, "csrf_token": token.group(1)}, headers=headers,
                                      allow_redirects=False)
    else:
        resp = await node.client.post(path, data=b"csrf_token=" + token.group(1).encode() + b"&" + raw,
                                      headers={**headers, "Content-Type": "application/x-www-form-urlencoded"},
                                      allow_redirects=False)
    assert resp.status < 500 or resp.status == 503, (path, fields, raw, resp.status)


async def test_the_upload_route_alone_may_carry_a_large_body(node: Node) -> None:
    resp = await node.client.post("/groups/g1/upload", data=b"x" * (2 << 20), headers={"Origin": node.origin},
                                  allow_redirects=False)
    assert resp.status != 413  # its handler streams the file part to disk and caps it there (here: not logged in)


@pytest.mark.parametrize("target", ["//evil.example", "https://evil.example", "/\t/evil.example", "/\n/evil.example",
                                    "/\\evil.example", "\t//evil.example"])
async def test_the_after_login_target_is_never_another_site(node: Node, target: str) -> None:
    page = await (await node.client.get(f"/login?next={quote(target, safe='')}")).text()
    found = re.search(r'name="next" value="([^"]*)"', page)
    assert found is not None and found.group(1) == "/"


path_parts = st.one_of(st.sampled_from(["groups", "downloads", "save", "events", "static", "login", "api", "%2e%2e",
                                        "..", ".", "%00", "%3Cscript%3E", "g1", "app.css", "", "cmd"]),
                       st.text(max_size=12).map(lambda t: quote(t, safe="")))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(path_parts, min_size=1, max_size=4).map("/".join),
       st.dictionaries(st.sampled_from(["group", "name", "next", "user", "v"]), st.text(max_size=20), max_size=3))
async def test_fuzzed_get_paths_and_queries_never_crash_the_ui(node: Node, path: str, query: dict[str, str]) -> None:
    # Sent raw: an HTTP client would normalise "/../" and the like away before the server ever saw them.
    target = "/" + path + ("?" + urlencode(query) if query else "")
    head = await raw_http(node.port, f"GET {target} HTTP/1.1\r\nHost: {node.host}\r\nConnection: close\r\n\r\n"
                          .encode())
    status_line = head.split(b"\r\n", 1)[0]
    assert status_line.startswith(b"HTTP/1.1 ") and int(status_line.split()[1]) < 500, (target, status_line)
    if status_line.startswith(b"HTTP/1.1 200") and b"text/html" in head:
        assert b"script-src 'self'" in head
