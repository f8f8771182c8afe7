"""A secondary that cannot take a snapshot is not sent another at every heartbeat (snapshot_pace.py says why)."""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator
from typing import Any

import pytest

from tracker_server.keys import REPLICATOR
from tracker_server.replication import Replicator
from tracker_server.snapshot_pace import SnapshotPace, SnapshotPaced

from .helpers import Api


def test_after_a_failed_snapshot_the_next_waits_doubling_up_to_a_bound_and_one_taken_ends_the_wait() -> None:
    pace = SnapshotPace(first_s=2.0, most_s=5.0)
    assert pace.left(2, now=100.0) == 0.0
    pace.failed(2, now=100.0)
    assert pace.left(2, now=101.0) == 1.0 and pace.left(2, now=102.0) == 0.0 and pace.left(3, now=101.0) == 0.0
    pace.failed(2, now=102.0)
    assert pace.left(2, now=102.0) == 4.0
    pace.failed(2, now=106.0)
    assert pace.left(2, now=106.0) == 5.0  # 8 s, bounded
    pace.taken(2)
    assert pace.left(2, now=106.0) == 0.0
    pace.failed(2, now=110.0)
    assert pace.left(2, now=110.0) == 2.0  # from the start again


async def test_a_secondary_that_cannot_store_a_snapshot_is_not_sent_the_next_before_its_pace_allows(
        api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    for i in range(3):
        await api.ok("POST", "/api/v1/users", {"user_id": f"u{i}", "password": "pw-long-enough"}, want=201)
    rep: Replicator = api.client.app[REPLICATOR]
    dumps: list[int] = []
    full = True  # the secondary's disk

    async def post(no: int, path: str, body: dict[str, Any], limit_s: float | None = None) -> dict[str, Any]:
        if path == "/internal/v1/snapshot" and full:
            raise ValueError(f"tracker {no} cannot store: database or disk is full")
        return {"ok": path == "/internal/v1/snapshot", "epoch": body["epoch"], "last_index": 2, "last_epoch": 99}

    async def post_raw(no: int, path: str, raw: bytes | bytearray, limit_s: float | None = None) -> dict[str, Any]:
        return await post(no, path, json.loads(raw), limit_s)

    real_parts = rep.store.snapshot_parts

    def snapshot_parts(*args: Any, **kwargs: Any) -> AsyncGenerator[tuple[bytearray, bool], None]:
        dumps.append(1)
        return real_parts(*args, **kwargs)

    monkeypatch.setattr(rep.link, "post", post)
    monkeypatch.setattr(rep.link, "post_raw", post_raw)
    monkeypatch.setattr(rep.store, "snapshot_parts", snapshot_parts)
    with pytest.raises(ValueError):
        await rep._catch_up(2, 2, 99)  # a history we do not share: a snapshot, refused
    for _ in range(3):  # the heartbeat's next looks, moments later: no dump, no snapshot
        with pytest.raises(SnapshotPaced):
            await rep._catch_up(2, 2, 99)
    assert len(dumps) == 1 and rep.snapshot_pace.left(2, 0.0) > 0

    full = False
    rep.snapshot_pace = SnapshotPace(rep.cfg.tracker_timeout, 64 * rep.cfg.tracker_timeout)  # the wait is over
    await rep._catch_up(2, 2, 99)
    assert len(dumps) == 2 and rep.snapshot_pace.left(2, 10**9) == 0.0
