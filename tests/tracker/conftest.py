"""Fixtures for the tracker tests: the real app factory on a real SQLite file, with a settable clock."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tracker_server.app import create_app

from .helpers import Api, AppFactory, Clock, make_config


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def start_tracker(aiohttp_client: Any, tmp_path: Path, clock: Clock) -> AppFactory:
    """Start (or restart, on the same data dir) the tracker app; the fixture closes every client it made."""

    async def start() -> Api:
        return Api(await aiohttp_client(create_app(make_config(tmp_path / "data", clock))))

    return start


@pytest.fixture
async def api(start_tracker: AppFactory) -> Api:
    return await start_tracker()
