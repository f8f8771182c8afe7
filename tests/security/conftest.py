"""Fixtures shared by the attack tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.security.tracker_app import Tracker
from tests.tracker.helpers import Clock


@pytest.fixture
async def tracker(tmp_path: Path) -> AsyncIterator[Tracker]:
    t = Tracker(tmp_path / "data", Clock())
    await t.start()
    try:
        yield t
    finally:
        await t.stop()
