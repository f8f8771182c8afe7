"""The heartbeat says a failure once per cause, and when it goes through again: a node run as a service with its
trackers down wrote a line a second for as long as they were down."""

from __future__ import annotations

import asyncio
import logging
from types import SimpleNamespace
from typing import Any, cast

import pytest

from peer_node import heartbeat as heartbeat_module
from peer_node.heartbeat import Heartbeat
from peer_node.service import NodeService
from wire.errors import Unavailable


async def test_a_failing_heartbeat_is_logged_once_per_cause_and_its_recovery_once(
        caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    answers: list[Exception | None] = [Unavailable("tracker 1 down")] * 4 + [Unavailable("tracker 2 down")] * 3 \
        + [None] * 3
    done = asyncio.Event()

    async def call(method: str, path: str, body: Any = None) -> dict[str, object]:
        answer = answers.pop(0) if answers else None
        if not answers:
            done.set()
        if answer is not None:
            raise answer
        return {"heartbeat_interval": 0.5}

    service = SimpleNamespace(
        state=SimpleNamespace(session=SimpleNamespace(user_id="alice")), tracker=SimpleNamespace(call=call),
        shares_keeper=SimpleNamespace(served=lambda user: []), downloads_mgr=SimpleNamespace(holdings=lambda u: []))
    monkeypatch.setattr(heartbeat_module, "RETRY_S", 0.01)
    monkeypatch.setattr(heartbeat_module, "MIN_INTERVAL_S", 0.01)
    beat = Heartbeat(cast(NodeService, service))
    with caplog.at_level(logging.INFO, logger="peer_node.heartbeat"):
        beat.start(0.01)
        await asyncio.wait_for(done.wait(), 10)
        await beat.stop()
    said = [r.getMessage() for r in caplog.records if r.name == "peer_node.heartbeat"]
    assert said == ["heartbeat failed: tracker 1 down (said again only if the cause changes)",
                    "heartbeat failed: tracker 2 down (said again only if the cause changes)",
                    "heartbeat: a tracker answers again"]
