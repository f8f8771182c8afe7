"""The internal routes: only a signed peer tracker gets in, and a malformed message is a 400, not a crash."""

from __future__ import annotations

import json
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from tracker_server.app import create_app
from tracker_server.cluster_auth import SIGNATURE_REFUSED, cluster_key, sign
from tracker_server.cluster_link import refuses_signature
from wire.tracker_list import TrackerAddress

from .helpers import SECRET, Clock, make_config


async def test_internal_routes_want_a_peer_signature_and_a_well_formed_body(aiohttp_client: Any,
                                                                           tmp_path: Path) -> None:
    config = replace(make_config(tmp_path, Clock()),
                     trackers=(TrackerAddress("127.0.0.1", 1, 1), TrackerAddress("127.0.0.1", 2, 2)))
    client = await aiohttp_client(create_app(config))
    key = cluster_key(SECRET)

    async def post(path: str, body: bytes, sender: int = 2, signer: bytes = key) -> tuple[int, Any]:
        headers = {"Content-Type": "application/json", **sign(signer, "POST", path, sender, body, time.time())}
        resp = await client.post(path, data=body, headers=headers)
        return resp.status, await resp.json()

    status, answer = await post("/internal/v1/status", json.dumps(
        {"epoch": 1, "role": "secondary", "last_index": 0, "last_epoch": 0}).encode())
    assert status == 200 and answer["from"] == 1 and answer["role"] in ("primary", "secondary")
    assert (await post("/internal/v1/append", b"{}"))[0] == 400
    assert (await post("/internal/v1/vote", b'{"epoch": "x"}'))[0] == 400
    for path in ("/internal/v1/status", "/internal/v1/vote", "/internal/v1/append"):  # nested past Python's limit
        assert (await post(path, b"[" * 100_000 + b"]" * 100_000))[0] == 400
    assert (await post("/internal/v1/status", b"{}", signer=cluster_key(b"another secret")))[0] == 403
    assert (await post("/internal/v1/status", b"{}", sender=1))[0] == 403  # not a peer: that is us
    resp = await client.post("/internal/v1/status", json={})
    assert resp.status == 403


async def test_only_a_tracker_s_refusal_of_our_signature_counts_as_one(aiohttp_server: Any) -> None:
    """Any other 403 (another server at a dead tracker's address, a proxy) is no vote against us: silence."""
    answers = {
        "/ours": web.json_response({"error": {"code": "forbidden", "message": SIGNATURE_REFUSED}}, status=403),
        "/proxy": web.Response(text="Forbidden", status=403),
        "/other": web.json_response({"error": {"code": "forbidden", "message": "not you"}}, status=403),
    }

    async def handler(request: web.Request) -> web.Response:
        return answers[request.path]

    app = web.Application()
    app.router.add_get("/{name}", handler)
    server = await aiohttp_server(app)
    async with aiohttp.ClientSession() as session:
        said = {}
        for path in answers:
            async with session.get(server.make_url(path)) as resp:
                said[path] = await refuses_signature(resp)
    assert said == {"/ours": True, "/proxy": False, "/other": False}
