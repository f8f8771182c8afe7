"""The live event stream (``web_ui/events.py``) against a real node and tracker, both in-process."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.client_exceptions import ClientConnectionResetError

from peer_node.join_answers import Seen
from peer_node.views import GroupRole
from peer_node.web_ui.state import UI_KEY
from tests.security.live_node import browser_login, live_world


async def test_a_closed_pages_stream_does_not_swallow_an_answer_the_next_page_load_shows(
        aiohttp_client: Callable[..., Awaitable[Any]], tmp_path: Path) -> None:
    async with live_world(aiohttp_client, tmp_path) as world:
        # As the node serves its pages (``peer_node/__main__.py``, aiohttp's default): a handler whose client went
        # away runs on until it next writes. aiohttp's test server would cancel it instead.
        world.node.server.runner.server.handler_cancellation = False
        state = world.node.app[UI_KEY]
        state.event_poll_s = 0.05
        await browser_login(world)
        stream = await world.node.get("/downloads/events")
        assert stream.status == 200
        assert (await stream.content.readline()).startswith(b"retry:")
        await asyncio.sleep(0.2)  # the stream has started watching for group news
        stream.close()  # the page is closed; aiohttp lets the handler run on until it notices
        await asyncio.sleep(0.2)
        watch = state.service.join_watch
        await watch.asked("alice", "g2", None, time.monotonic())
        await watch.seen("alice", {"g2": Seen(GroupRole.MEMBER)}, complete=False, listed_at=time.monotonic())
        await asyncio.sleep(0.5)  # ten of the stream's rounds, had it kept running
        page = await (await world.node.get("/")).text()
        assert "You are in g2: your request to join was accepted." in page


async def test_a_page_gone_before_its_stream_opened_ends_the_stream_quietly(
        aiohttp_client: Callable[..., Awaitable[Any]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    """A page left at once (a form's redirect) may be gone before the stream's headers go out: that is a page
    closed, as at any later write, not an error with a traceback in the node's log."""
    async with live_world(aiohttp_client, tmp_path) as world:
        await browser_login(world)

        async def gone(self: web.StreamResponse, request: web.BaseRequest) -> None:
            raise ClientConnectionResetError("Cannot write to closing transport")

        monkeypatch.setattr(web.StreamResponse, "prepare", gone)
        caplog.set_level(logging.ERROR)
        with contextlib.suppress(aiohttp.ClientError):
            await world.node.get("/downloads/events")
        monkeypatch.undo()
        assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []
        assert (await world.node.get("/downloads")).status == 200  # the node serves on
