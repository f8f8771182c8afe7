"""A secondary that cannot store what the primary sends it (a full disk) answers a clear 503 ``cannot store: ...``
with one log line (not a traceback per write), shows it in /healthz until a write goes through again, and the
primary says, once a minute and not at every write, that a live secondary cannot store."""

from __future__ import annotations

import json
import logging
import sqlite3
import time
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from tracker_server.app import create_app
from tracker_server.cluster_auth import cluster_key, sign
from tracker_server.cluster_link import ClusterLink
from tracker_server.keys import STORE
from tracker_server.state import Entry
from wire.tracker_list import TrackerAddress

from .helpers import SECRET, Clock, make_config

FULL = "database or disk is full"
EPOCH = 1000  # past any epoch this tracker reaches alone meanwhile: it follows the sender


def _append_body(index: int) -> bytes:
    entry = Entry(EPOCH, index, f"op-{index}", {"t": "noop"}, {"status": 200, "body": {}})
    return json.dumps({"epoch": EPOCH, "from": 2, "prev_index": index - 1, "prev_epoch": EPOCH if index > 1 else 0,
                       "entries": [entry.to_json()]}).encode()


async def test_a_secondary_that_cannot_store_answers_503_logs_once_and_shows_it_in_healthz(
        aiohttp_client: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    config = replace(make_config(tmp_path, Clock()),
                     trackers=(TrackerAddress("127.0.0.1", 1, 1), TrackerAddress("127.0.0.1", 2, 2)))
    client = await aiohttp_client(create_app(config))
    store = client.app[STORE]
    real_append = store.append

    async def full_disk(entries: Iterable[Entry]) -> None:
        raise sqlite3.OperationalError(FULL)

    async def append(index: int) -> tuple[int, Any]:
        body = _append_body(index)
        headers = {"Content-Type": "application/json",
                   **sign(cluster_key(SECRET), "POST", "/internal/v1/append", 2, body, time.time())}
        resp = await client.post("/internal/v1/append", data=body, headers=headers)
        return resp.status, await resp.json()

    async def health() -> dict[str, Any]:
        return dict(await (await client.get("/healthz")).json())

    assert (await health())["cannot_store_since"] is None
    store.append = full_disk
    before = time.time()
    with caplog.at_level(logging.WARNING):
        answers = [await append(1) for _ in range(3)]
    assert answers == [(503, {"error": {"code": "unavailable", "message": f"cannot store: {FULL}"}})] * 3
    said = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(said) == 1 and FULL in said[0].getMessage() and said[0].exc_info is None, caplog.text
    assert "Traceback" not in caplog.text
    shown = await health()
    assert shown["cannot_store"] == FULL and before <= shown["cannot_store_since"] <= time.time()
    assert (shown["log_index"], shown["epoch"], shown["tracker_no"]) == (0, EPOCH, 1)  # documented ones as they were

    store.append = real_append
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        assert (await append(1))[0] == 200
    assert "stores what the primary sends again" in caplog.text
    shown = await health()
    assert (shown["cannot_store_since"], shown["cannot_store"], shown["log_index"]) == (None, None, 1)


async def test_the_primary_warns_once_a_minute_that_a_live_secondary_cannot_store(
        aiohttp_server: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    async def refuse(request: web.Request) -> web.Response:
        return web.json_response({"error": {"code": "unavailable", "message": f"cannot store: {FULL}"}}, status=503)

    app = web.Application()
    app.router.add_post("/internal/v1/append", refuse)
    server = await aiohttp_server(app)
    config = replace(make_config(tmp_path, Clock()),
                     trackers=(TrackerAddress("127.0.0.1", 1, 1), TrackerAddress("127.0.0.1", server.port, 2)))
    link = ClusterLink(config)
    link.start()
    try:
        with caplog.at_level(logging.WARNING):
            for _ in range(3):
                with pytest.raises(ValueError, match="cannot store"):
                    await link.post(2, "/internal/v1/append", {})
    finally:
        await link.close()
    said = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(said) == 1 and "tracker 2 runs but cannot store" in said[0] and FULL in said[0], said
