"""Two stores for the snapshot tests: one of a tracker that served a little (two users, a group, a file), one
holding an entry a snapshot must drop; and the check that an installed snapshot gave the same tables and state."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from tracker_server.state import Entry, State
from tracker_server.store import Store

from .helpers import AppFactory
from .test_rules import file_body


@contextlib.asynccontextmanager
async def source_and_other(start_tracker: AppFactory, tmp_path: Path) -> AsyncIterator[tuple[Store, Store]]:
    api = await start_tracker()
    a, b = [await api.user(n) for n in ("a", "b")]
    await api.group_with(a, "g", b)
    await api.ok("POST", "/api/v1/groups/g/files", file_body("f1"), b, want=201)
    await api.client.close()
    source = await Store.open(tmp_path / "data" / "tracker.sqlite3")
    other = await Store.open(tmp_path / "other" / "tracker.sqlite3")
    try:
        await other.append([Entry(1, 1, "doomed", {"t": "create_user", "u": "zed", "h": "x"}, {})])  # to be dropped
        yield source, other
    finally:
        await source.close()
        await other.close()


async def same_after_install(source: Store, other: Store) -> State:
    """Asserts ``other`` (a snapshot of ``source`` installed) holds the same tables and state; its state."""
    assert await other.digest() == await source.digest()
    mine, theirs = await source.load_state(), await other.load_state()
    assert (theirs.users, theirs.groups, theirs.index, theirs.results) == \
        (mine.users, mine.groups, mine.index, mine.results)
    return theirs
