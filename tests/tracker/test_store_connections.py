"""Every SQLite connection the store opens besides its own is closed on every path: a caller cancelled while a
worker thread opens one (a snapshot's reader, a digest's view, compaction's checkpointer), and a snapshot's
reader closed before its last part (thread_open.py says what a connection left open costs)."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiosqlite
import pytest

from tracker_server import store as store_module
from tracker_server.snapshot_read import PartReader
from tracker_server.state_digest import DigestView
from tracker_server.store import Store

DEADLINE_S = 10.0


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    """A store whose users table holds more rows than the snapshot encoder reads in a batch."""
    opened = await Store.open(tmp_path / "tracker.sqlite3")
    with sqlite3.connect(tmp_path / "tracker.sqlite3") as db:
        db.executemany("INSERT INTO users(user_id, pw_hash) VALUES (?, ?)",
                       [(f"user{i:04}", "h" * 100) for i in range(500)])
    db.close()
    try:
        yield opened
    finally:
        await opened.close()


async def _until(what: Callable[[], bool]) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not what():
        assert time.monotonic() < deadline, "not within the deadline"
        await asyncio.sleep(0.01)


def _held(opened: list[Any], entered: threading.Event, go: threading.Event) -> Callable[[Any], None]:
    """What the patched class's ``__init__`` waits on, and where it records itself."""

    def hold(obj: Any) -> None:
        opened.append(obj)
        entered.set()
        assert go.wait(DEADLINE_S)

    return hold


async def _cancel_while_opening(start: Callable[[], Any], entered: threading.Event, go: threading.Event) -> None:
    task = asyncio.ensure_future(start())
    await _until(entered.is_set)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    go.set()  # the thread now opens, for a caller that is gone


async def test_a_snapshot_cancelled_while_its_reader_opens_closes_the_reader(
        store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    opened: list[PartReader] = []
    closed: list[PartReader] = []
    entered, go = threading.Event(), threading.Event()
    hold = _held(opened, entered, go)

    class Reader(PartReader):
        def __init__(self, *args: Any) -> None:
            hold(self)
            super().__init__(*args)

        def close(self) -> None:
            super().close()
            closed.append(self)

    monkeypatch.setattr(store_module, "PartReader", Reader)

    async def first_part() -> None:
        async for _ in store.snapshot_parts(lambda n: b"", lambda last: b""):
            break

    await _cancel_while_opening(first_part, entered, go)
    await _until(lambda: closed == opened)


async def test_a_digest_cancelled_while_its_view_opens_closes_the_view(
        store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    opened: list[DigestView] = []
    closed: list[DigestView] = []
    entered, go = threading.Event(), threading.Event()
    hold = _held(opened, entered, go)

    class View(DigestView):
        def __init__(self, path: Path) -> None:
            hold(self)
            super().__init__(path)

        def close(self) -> None:
            super().close()
            closed.append(self)

    monkeypatch.setattr(store_module, "DigestView", View)
    await _cancel_while_opening(store.digest, entered, go)
    await _until(lambda: closed == opened)


async def test_a_checkpoint_cancelled_while_its_connection_opens_leaves_it_for_close(
        store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    opened: list[sqlite3.Connection] = []
    closed: list[sqlite3.Connection] = []
    entered, go = threading.Event(), threading.Event()
    hold = _held(opened, entered, go)

    class Conn(sqlite3.Connection):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            hold(self)
            super().__init__(*args, **kwargs)

        def close(self) -> None:
            super().close()
            closed.append(self)

    real = aiosqlite.connect
    monkeypatch.setattr(aiosqlite, "connect",
                        lambda path, **kw: real(path, factory=Conn, **kw))
    await _cancel_while_opening(store.checkpoint, entered, go)
    await store.close()
    assert closed == opened and len(opened) == 1


def test_a_reader_closed_before_its_last_part_ends_its_read_transaction(tmp_path: Path) -> None:
    path = tmp_path / "tracker.sqlite3"
    made = asyncio.run(Store.open(path))
    asyncio.run(made.close())
    with sqlite3.connect(path, isolation_level=None) as db:
        db.execute("PRAGMA journal_mode=WAL")
        db.executemany("INSERT INTO users(user_id, pw_hash) VALUES (?, ?)",
                       [(f"user{i:04}", "h" * 100) for i in range(500)])
        reader = PartReader(path, 1 << 20, 4096)
        _, last = reader.next(b"", lambda last: b"")
        assert not last  # its users' SELECT is under way
        reader.close()  # ``reader`` still referenced, as a transfer cut short has it until it is freed
        db.execute("INSERT INTO users(user_id, pw_hash) VALUES ('late', 'h')")
        db.execute("PRAGMA busy_timeout=0")
        busy, _, _ = db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        assert busy == 0  # no reader left holding the -wal back
        assert reader is not None
    db.close()


async def test_a_read_whose_caller_is_cancelled_as_its_cursor_comes_leaves_nothing_open(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A compaction round or a catch-up stopped as aiosqlite hands a SELECT's cursor over: the cursor stayed in a
    finished future with its statement under way, and the store's close left the connection open (files, -shm,
    its read) for as long as the cancelled frames lived. Here they live on in the exception kept below."""
    loop = asyncio.get_running_loop()
    trap: list[asyncio.Task[Any]] = []

    class Conn(sqlite3.Connection):
        def execute(self, *args: Any) -> sqlite3.Cursor:
            cursor = super().execute(*args)
            if trap and "FROM meta" in args[0]:
                task = trap.pop()
                # Queued before aiosqlite's own hand-over of the cursor: the cancel lands after it, before the
                # task resumes (the future is done, so the cancel is thrown into the task where it awaited).
                loop.call_soon_threadsafe(lambda: loop.call_soon(task.cancel))
            return cursor

    real = aiosqlite.connect
    monkeypatch.setattr(aiosqlite, "connect", lambda path, **kw: real(path, factory=Conn, **kw))
    path = tmp_path / "tracker.sqlite3"
    opened = await Store.open(path)
    await opened.set_meta("epoch", "1")
    read = asyncio.ensure_future(opened.get_meta("epoch"))
    trap.append(read)
    with pytest.raises(asyncio.CancelledError) as cancelled:
        await read
    await opened.close()
    with sqlite3.connect(path, isolation_level=None, timeout=0) as db:
        db.execute("INSERT INTO meta(key, value) VALUES ('after', 'x')")
        busy, _, _ = db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    db.close()
    assert busy == 0  # no connection of the store's left holding a read
    assert cancelled.value is not None
