"""A tracker restart keeps every durable fact, logins included; the OpenAPI document matches the routes."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

from tracker_server.app import create_app
from tracker_server.keys import SERVICE
from tracker_server.state import State
from tracker_server.store import Store

from .helpers import Api, AppFactory, Clock, make_config
from .snapshot_pair import same_after_install, source_and_other
from .test_rules import file_body


async def _views(api: Api, tokens: dict[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, token in tokens.items():
        out[name] = {
            "groups": await api.ok("GET", "/api/v1/groups", None, token),
            "g1": await api.call("GET", "/api/v1/groups/g1", None, token),
            "files": await api.call("GET", "/api/v1/groups/g1/files", None, token),
        }
    out["requests"] = await api.ok("GET", "/api/v1/groups/g1/requests", None, tokens["bob"])
    out["health"] = await api.ok("GET", "/healthz")
    return out


async def test_restart_keeps_users_groups_files_and_logins(start_tracker: AppFactory, clock: Clock) -> None:
    api = await start_tracker()
    tokens = {n: await api.user(n, f"10.0.0.{i}:7000") for i, n in enumerate(("alice", "bob", "carol", "dave"))}
    await api.group_with(tokens["alice"], "g1", tokens["bob"], tokens["carol"])
    await api.ok("POST", "/api/v1/groups/g1/join", {}, tokens["dave"], want=202)
    await api.ok("POST", "/api/v1/groups/g1/files", file_body("a.txt"), tokens["carol"], want=201)
    await api.ok("POST", "/api/v1/groups/g1/leave", {}, tokens["alice"])  # bob owns g1 now
    await api.ok("POST", "/api/v1/groups", {"group_id": "g2"}, tokens["dave"], want=201)
    before = await _views(api, tokens)
    await api.client.close()

    api = await start_tracker()
    assert await _views(api, tokens) == before  # the same sessions still work: logins survive
    status, _ = await api.call("POST", "/api/v1/sessions", {"user_id": "alice", "password": "pw-alice",
                                                            "peer_addr": "10.9.9.9:1"})
    assert status == 409  # alice's node counts as live again after the restart, until it misses heartbeats
    await api.ok("POST", "/api/v1/groups/g1/requests/dave/accept", {}, tokens["bob"])


async def test_memory_and_sqlite_agree_after_every_kind_of_op(start_tracker: AppFactory, tmp_path: Any) -> None:
    api = await start_tracker()
    a, b, c = [await api.user(n) for n in ("a", "b", "c")]
    await api.group_with(a, "g", b, c)
    await api.ok("POST", "/api/v1/groups/g/files", file_body("f1"), b, want=201)
    await api.ok("POST", "/api/v1/groups/g/files", file_body("f2"), c, want=201)
    await api.ok("DELETE", "/api/v1/groups/g/files/f2/share", {}, c)
    await api.ok("POST", "/api/v1/groups/g/leave", {}, a)
    await api.ok("POST", "/api/v1/groups", {"group_id": "h"}, c, want=201)
    await api.ok("POST", "/api/v1/groups/h/leave", {}, c)
    await api.ok("DELETE", "/api/v1/sessions/current", {}, c)
    app = api.client.app
    assert app is not None
    live: State = app[SERVICE].state
    await api.client.close()
    store = await Store.open(tmp_path / "data" / "tracker.sqlite3")
    try:
        loaded = await store.load_state()
    finally:
        await store.close()
    assert (loaded.users, loaded.sessions, loaded.groups) == (live.users, live.sessions, live.groups)
    assert (loaded.index, loaded.results) == (live.index, live.results)


def test_every_route_is_documented_and_every_documented_route_exists(tmp_path: Any) -> None:
    app = create_app(make_config(tmp_path, Clock()))
    routes = {(r.method.lower(), r.resource.canonical) for r in app.router.routes()
              if r.resource is not None and r.method != "HEAD"}
    doc = json.loads(resources.files("tracker_server").joinpath("openapi.json").read_text(encoding="utf-8"))
    documented = {(method, path) for path, ops in doc["paths"].items() for method in ops}
    assert routes == documented
    assert doc["openapi"].startswith("3.")


async def test_openapi_document_is_served(api: Api) -> None:
    doc = await api.ok("GET", "/api/v1/openapi.json")
    assert "/api/v1/groups/{gid}/files/{name}" in doc["paths"]


async def test_a_snapshot_installed_elsewhere_gives_the_same_tables_and_state(start_tracker: AppFactory,
                                                                            tmp_path: Path) -> None:
    async with source_and_other(start_tracker, tmp_path) as (source, other):
        await other.install(await source.dump(), epoch=7)
        theirs = await same_after_install(source, other)
        assert theirs.epoch == 7 and "zed" not in theirs.users
