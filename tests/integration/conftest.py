"""Integration tests start real ./tracker and ./client processes on loopback (tests/support/cluster.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.cluster import Cluster


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    """Two trackers in the list, only the first one running (the second stays down throughout)."""
    c = Cluster(tmp_path, trackers=2)
    try:
        c.start_tracker(1)
        yield c
    finally:
        c.close()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/integration/" in str(item.fspath):
            item.add_marker(pytest.mark.integration)
