"""The internal routes: only a signed peer tracker gets in, and a malformed message is a 400, not a crash."""

from __future__ import annotations

import json
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from tracker_server.app import create_app
from tracker_server.cluster_auth import cluster_key, sign
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
