"""Fixtures shared by the attack tests."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from tests.security.live_node import World, live_world
from tests.security.tracker_app import Tracker, running_tracker


@pytest.fixture
async def tracker(tmp_path: Path) -> AsyncIterator[Tracker]:
    async with running_tracker(tmp_path) as t:
        yield t


@pytest.fixture
async def world(aiohttp_client: Callable[..., Awaitable[Any]], tmp_path: Path) -> AsyncIterator[World]:
    """A real node logged in (alice, owner of g1) to a real tracker, both in-process (``live_node``)."""
    async with live_world(aiohttp_client, tmp_path) as w:
        yield w
