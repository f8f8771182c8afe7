"""The start's one-time conversion to incremental vacuum is run only where its two copies fit (vacuum_convert.py)."""

from __future__ import annotations

import logging
import sqlite3
from collections import namedtuple
from pathlib import Path
from typing import Any

import pytest

from tracker_server import vacuum_convert
from tracker_server.state import Entry
from tracker_server.store import Store
from tracker_server.vacuum_convert import MARGIN_BYTES, shortfall, sqlite_temp_dir

MB = 1 << 20


def test_a_vacuum_needs_the_database_size_free_in_the_data_dir_and_in_the_temporary_dir() -> None:
    # One file system for both: two copies and the margin.
    assert shortfall(100 * MB, (1, 200 * MB + MARGIN_BYTES), (1, 200 * MB + MARGIN_BYTES)) == 0
    assert shortfall(100 * MB, (1, 150 * MB), (1, 150 * MB)) == 50 * MB + MARGIN_BYTES
    # Two: one copy each, each with its margin.
    assert shortfall(100 * MB, (1, 100 * MB + MARGIN_BYTES), (2, 100 * MB + MARGIN_BYTES)) == 0
    assert shortfall(100 * MB, (1, 500 * MB), (2, 40 * MB)) == 60 * MB + MARGIN_BYTES


def test_sqlites_temporary_dir_is_found_as_sqlite_looks_for_it(tmp_path: Path) -> None:
    assert sqlite_temp_dir({"SQLITE_TMPDIR": str(tmp_path), "TMPDIR": "/"}) == str(tmp_path)
    assert sqlite_temp_dir({"SQLITE_TMPDIR": str(tmp_path / "missing"), "TMPDIR": str(tmp_path)}) == str(tmp_path)


def _old_database(path: Path) -> None:
    """As versions before compaction made it: auto_vacuum off, WAL, a log."""
    path.parent.mkdir()
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("CREATE TABLE log (idx INTEGER PRIMARY KEY, epoch INTEGER NOT NULL, op_id TEXT NOT NULL UNIQUE, "
                 "op TEXT NOT NULL, result TEXT NOT NULL)")
    conn.executemany("INSERT INTO log VALUES (?, 1, ?, '{}', '{}')", [(i, f"op{i}") for i in range(1, 200)])
    conn.close()


async def test_a_database_is_not_converted_where_its_copies_would_fill_the_disk_and_the_tracker_still_starts(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "old" / "tracker.sqlite3"
    _old_database(path)
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr("shutil.disk_usage", lambda _: usage(10 * MB, 10 * MB - 4096, 4096))
    with caplog.at_level(logging.WARNING, logger="tracker_server.vacuum_convert"):
        store = await Store.open(path)
    try:
        assert "is not converted to incremental vacuum" in caplog.text and "SQLITE_TMPDIR" in caplog.text
        await store.append([Entry(1, 200, "next", {"t": "noop"}, {})])  # it serves, unconverted
        assert await store.newest_index() == 200
    finally:
        await store.close()
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA auto_vacuum").fetchone()[0] == 0

    monkeypatch.undo()  # room again: the next start converts it
    await (await Store.open(path)).close()
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA auto_vacuum").fetchone()[0] == vacuum_convert.INCREMENTAL


async def test_the_room_counts_the_pages_still_in_the_wal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                          caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "old" / "tracker.sqlite3"
    _old_database(path)
    holder = sqlite3.connect(path, isolation_level=None)  # keeps the -wal from being folded in at its close
    try:
        holder.execute("PRAGMA wal_autocheckpoint=0")
        holder.executemany("INSERT INTO log VALUES (?, 1, ?, ?, '{}')",
                           [(i, f"op{i}", "x" * 4000) for i in range(1000, 2000)])  # 4 MB, in the -wal only
        wal = path.with_name(path.name + "-wal")
        assert wal.stat().st_size > 4 * MB
        usage = namedtuple("usage", "total used free")
        seen: list[tuple[int, int]] = []

        def disk_usage(_: Any) -> Any:  # room for the file as it is when measured, not for what the -wal adds
            seen.append((path.stat().st_size, wal.stat().st_size))
            return usage(1 << 40, 1 << 39, 2 * path.stat().st_size + MARGIN_BYTES + MB)

        monkeypatch.setattr("shutil.disk_usage", disk_usage)
        with caplog.at_level(logging.WARNING, logger="tracker_server.vacuum_convert"):
            await (await Store.open(path)).close()
        assert seen and all(w > 2 * MB for _, w in seen)
        assert "is not converted" in caplog.text and "converting" not in caplog.text  # no VACUUM was begun
    finally:
        holder.close()
