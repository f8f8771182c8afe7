"""Hypothesis against the tracker's handlers with arbitrary JSON bodies (wrong types, nesting, huge numbers, odd
strings) on every write route, with and without a real session: never a 5xx, always the JSON error form. This
goes past Schemathesis, which builds bodies from the document's own schemas."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.tracker.helpers import Api, Clock, make_config
from tracker_server.app import create_app

ROUTES = ["/api/v1/users", "/api/v1/sessions", "/api/v1/heartbeat", "/api/v1/groups", "/api/v1/groups/g1/join",
          "/api/v1/groups/g1/leave", "/api/v1/groups/g1/requests/bob/accept", "/api/v1/groups/g1/files",
          "/api/v1/groups/g1/files/a.txt/share", "/api/v1/sessions/current"]
KEYS = ["user_id", "password", "op_id", "peer_addr", "fingerprint", "group_id", "holdings", "group_id",
        "file_sha256", "pieces", "file_name", "size", "piece_size", "sha256", "piece_hashes"]
leaf = st.one_of(st.none(), st.booleans(), st.integers(-(1 << 80), 1 << 80), st.floats(allow_nan=True),
                 st.text(max_size=30), st.sampled_from(["all", "g1", "bob", "a.txt", "127.0.0.1:1", "0" * 64,
                                                        "AAAA", "x" * 300, "\u00b2", "\x00"]))
values = st.recursive(leaf, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from(KEYS), inner,
                                                                                        max_size=5), max_leaves=12)
bodies = st.one_of(st.dictionaries(st.sampled_from(KEYS), values, max_size=8), values)


@pytest.fixture
async def api(aiohttp_client: Callable[..., Awaitable[Any]], tmp_path: Path) -> tuple[Api, str]:
    client = Api(await aiohttp_client(create_app(make_config(tmp_path / "data", Clock()))))
    token = await client.user("alice")
    await client.ok("POST", "/api/v1/groups", {"group_id": "g1"}, token, want=201)
    return client, token


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.sampled_from(ROUTES), st.sampled_from(["POST", "DELETE"]), bodies, st.booleans())
async def test_any_json_body_on_any_write_route_is_answered_without_a_5xx(api: tuple[Api, str], route: str,
                                                                          method: str, body: Any,
                                                                          authed: bool) -> None:
    client, token = api
    headers = {"Authorization": f"Bearer {token}"} if authed else {}
    resp = await client.client.request(method, route, json=body, headers=headers)
    assert resp.status < 500, (route, body, resp.status, await resp.text())
    if resp.status >= 400:
        error = (await resp.json())["error"]
        assert isinstance(error["code"], str) and isinstance(error["message"], str)
