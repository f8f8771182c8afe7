"""All of the tracker's SQL: the log and the tables it produces, in one aiosqlite connection (WAL, one writer).

Theory of operation: ``append`` writes a batch of log entries and applies each op to the tables in ONE
transaction (group commit: many entries, one fsync), so the log and the state can never disagree after a crash.
``load_state`` rebuilds the in-memory ``State`` (at start, and after a snapshot: ``state_rows.read_state``, in a
worker thread); reads during service come from that object, not from here. ``sql_ops.apply_sql`` must agree op by
op with ``State.apply`` (tests compare the two through ``digest``: ``state_digest.py``). A snapshot moves every
table between trackers when a log cannot be replayed (issue 5): the primary sends ``snapshot_parts``'s, read from a
connection of its own and encoded in a worker thread (``snapshot_read.py``, ``snapshot_codec.py``); a secondary
takes one part with ``install``, several with ``stage``... ``install_staged`` (``snapshot_stage.py``).

The log's oldest entries are deleted by ``compact`` (policy and schedule: ``compaction.py``); the last one deleted is
remembered (meta ``compacted_index``/``compacted_epoch``) so that the log still names its position when it holds
nothing older (``position_at``, ``load_state``), and a snapshot carries it. The database is kept in
``auto_vacuum=INCREMENTAL`` mode so that ``reclaim`` can hand the freed pages back to the file system in small
steps: without it SQLite reuses free pages but never shrinks the file below its largest size. Those methods are
``store_compaction.py``'s, a base of ``Store``.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import math
import os
import sqlite3
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterable
from importlib import resources
from pathlib import Path
from typing import Any

import aiosqlite

from tracker_server import snapshot_stage
from tracker_server.snapshot_read import COMPACTED_EPOCH, COMPACTED_INDEX, SNAPSHOT_LOG_START, PartReader
from tracker_server.snapshot_read import TABLES as _TABLES
from tracker_server.sql_ops import apply_sql
from tracker_server.state import Entry, State
from tracker_server.state_digest import DigestView
from tracker_server.state_rows import read_state
from tracker_server.store_compaction import CompactionTables
from tracker_server.thread_open import open_in_thread
from tracker_server.vacuum_convert import INCREMENTAL, make_incremental


def _schema() -> str:
    return resources.files("tracker_server").joinpath("schema.sql").read_text(encoding="utf-8")


# A snapshot's log: ops and results are JSON text, and quoted again inside the snapshot (each '"' or '\\' grows to
# two characters): 128 MiB of them is at most 256 MiB of snapshot. Since snapshots go in parts, no longer for the
# message cap's sake: it keeps a snapshot's time and size in bounds.
SNAPSHOT_LOG_BYTES = 128 << 20
# A snapshot's part (``snapshot_read.py``): far under the 512 MiB internal message cap, and what each side holds in
# memory at a time (the secondary several times over, as Python objects, while it decodes and stores it).
SNAPSHOT_PART_BYTES = 64 << 20
WAL_KEPT_BYTES = 64 << 20  # a -wal file grown past this by a big transaction is cut back to it after a checkpoint


# The index of the last of the oldest entries, walked one index at a time (the log holds no gaps) so that the walk
# stops as soon as it has ``batch`` entries or ``most`` bytes: the time a delete holds the store grows with the bytes
# it frees (a share of 15,000 pieces is a 1 MB op: 100 of them took 400-500 ms, every write waiting meanwhile), and a
# plain ``LIMIT`` would read every entry it counts. length() is of characters: the ops are ASCII JSON (``_dumps``).


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


class StoreDamaged(Exception):
    """The database cannot be opened or read (damaged, or not a tracker's database): the tracker cannot start."""

    def __init__(self, path: Path, cause: BaseException) -> None:
        super().__init__(f"the database {path} cannot be read ({cause}). Keep a copy of it, then move the data "
                         f"directory aside and start this tracker again: it starts empty and, while another "
                         f"tracker of the list is primary, takes the cluster's state from it")


class Store(CompactionTables):
    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._db = conn
        self._tx = asyncio.Lock()  # one connection: transactions must not interleave
        self._reads: set[asyncio.Future[list[Any]]] = set()  # ``_rows`` under way (their callers may be gone)
        self.installs = 0  # snapshots installed: a compaction decided on the log before one must not go on
        self.path: Path | None = None
        self._checkpointer: asyncio.Future[aiosqlite.Connection] | None = None  # compaction's (``checkpoint``)

    @classmethod
    async def open(cls, path: Path) -> Store:
        # Session tokens and password hashes live here: private to the tracker's user (SQLite gives its -wal and
        # -shm files the database file's mode).
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
        conn = await aiosqlite.connect(str(path), isolation_level=None)
        try:
            await conn.execute(f"PRAGMA auto_vacuum={INCREMENTAL}")  # takes effect in a new file (before any table)
            await conn.execute("PRAGMA journal_mode=WAL")
            await conn.execute(f"PRAGMA journal_size_limit={WAL_KEPT_BYTES}")
            await conn.execute("PRAGMA synchronous=FULL")  # an acknowledged entry survives a power cut too
            await conn.execute("PRAGMA foreign_keys=OFF")
            await conn.executescript(_schema())
            await make_incremental(conn, path)
        except sqlite3.DatabaseError as exc:
            await conn.close()  # its thread would keep the process alive, listening on nothing
            raise StoreDamaged(path, exc) from None
        store = cls(conn)
        store.path = path
        snapshot_stage.stage_path(path).unlink(missing_ok=True)  # a transfer's parts, left by a crash
        return store

    async def close(self) -> None:
        try:
            await asyncio.gather(*self._reads, return_exceptions=True)
            opening, self._checkpointer = self._checkpointer, None
            checkpointer = None
            with contextlib.suppress(Exception):  # it never opened: nothing to close
                checkpointer = None if opening is None else await opening
            if checkpointer is not None:
                await checkpointer.close()
        finally:
            await self._db.close()

    async def checkpoint(self) -> None:
        """Copy the WAL into the database from a connection of its own, without the store's lock: a PASSIVE
        checkpoint neither waits for writers nor holds them up. Compaction fills the WAL fast; left to SQLite's
        automatic checkpoint, the copy (and its fsync) would fall on whichever commit crossed 1,000 pages, often a
        client's write (measured: 100 ms and more for one write on a busy disk)."""
        if self.path is None:
            return
        # Opened in a task of its own, which a cancelled caller (compaction stopping) leaves to finish: aiosqlite
        # drops a connection whose opening is cancelled without closing it (thread_open.py says what that costs).
        if self._checkpointer is None:
            self._checkpointer = asyncio.ensure_future(aiosqlite.connect(str(self.path), isolation_level=None))
        try:
            checkpointer = await asyncio.shield(self._checkpointer)
        except Exception:
            self._checkpointer = None  # not opened: the next checkpoint tries again
            raise
        await checkpointer.execute("PRAGMA wal_checkpoint(PASSIVE)")

    # ------------------------------------------------------------------------------------------ meta values

    async def get_meta(self, key: str, default: str | None = None) -> str | None:
        rows = await self._rows("SELECT value FROM meta WHERE key = ?", (key,))
        return default if not rows else str(rows[0][0])

    async def set_meta(self, key: str, value: str) -> None:
        async with self._tx:
            await self._set_meta(key, value)

    async def _set_meta(self, key: str, value: str) -> None:
        await self._db.execute("INSERT INTO meta(key, value) VALUES (?, ?) "
                               "ON CONFLICT(key) DO UPDATE SET value = excluded.value", (key, value))

    # ------------------------------------------------------------------------------------------ the log

    async def append(self, entries: Iterable[Entry]) -> None:
        """Record and apply the entries in one transaction (all or nothing)."""
        async with self._tx:
            await self._append(entries)

    async def _append(self, entries: Iterable[Entry]) -> None:
        await self._db.execute("BEGIN IMMEDIATE")
        try:
            for entry in entries:
                await self._db.execute(
                    "INSERT INTO log(idx, epoch, op_id, op, result) VALUES (?, ?, ?, ?, ?)",
                    (entry.index, entry.epoch, entry.op_id, _dumps(entry.op), _dumps(entry.result)))
                await apply_sql(self._db, entry.op, entry.index)
        except BaseException:
            await self._db.execute("ROLLBACK")
            raise
        await self._db.execute("COMMIT")

    async def entries_after(self, index: int, limit: int = 1000) -> list[Entry]:
        async with self._tx:
            rows = await self._rows("SELECT epoch, idx, op_id, op, result FROM log WHERE idx > ? ORDER BY idx LIMIT ?",
                                    (index, limit))
        return [Entry(int(r[0]), int(r[1]), str(r[2]), json.loads(r[3]), json.loads(r[4])) for r in rows]

    async def entry_at(self, index: int) -> Entry | None:
        rows = await self.entries_after(index - 1, 1)
        return rows[0] if rows and rows[0].index == index else None

    async def position_at(self, index: int) -> int | None:
        """The epoch of entry ``index`` as far as log matching goes: the entry's, or the compaction point's if it is
        the last entry deleted (index 0: before the first entry). None if the log does not name it (deleted, or
        never written), so a tracker there cannot be shown to share our history."""
        async with self._tx:
            point = await self._compaction_point()
            if index == point[0]:
                return point[1]
            rows = await self._rows("SELECT epoch FROM log WHERE idx = ?", (index,))
        return None if not rows else int(rows[0][0])

    # ------------------------------------------------------------------------------------------ loading

    async def load_state(self) -> State:
        """The state in memory, read and built in a worker thread (``state_rows.read_state``): seconds of CPU for a
        big log, which the event loop does not wait for."""
        if self.path is None:
            raise RuntimeError("the store has no file to read its state from")
        return await asyncio.to_thread(read_state, self.path)

    async def _rows(self, sql: str, args: tuple[Any, ...] | dict[str, Any] = ()) -> list[Any]:
        """Every row of ``sql``; its cursor closed even if the caller is cancelled (a caller cancelled as aiosqlite
        handed the cursor over left it, its statement under way, to the collector: SQLite then keeps the connection
        open past ``close``, its files, -shm and read with it)."""
        read = asyncio.ensure_future(self._fetch(sql, args))
        self._reads.add(read)  # ``close`` waits for it: a cursor closed after its connection is never closed
        read.add_done_callback(self._reads.discard)
        return await asyncio.shield(read)

    async def _fetch(self, sql: str, args: tuple[Any, ...] | dict[str, Any]) -> list[Any]:
        async with self._db.execute(sql, args) as cur:
            return list(await cur.fetchall())

    # ------------------------------------------------------------------------------------------ snapshots

    async def dump(self) -> dict[str, list[list[Any]]]:
        """Every row of every state table and of the log (blobs as hex), in key order: a consistent snapshot."""
        async with self._tx:
            return await self._dump()

    async def _dump(self) -> dict[str, list[list[Any]]]:
        await self._db.execute("BEGIN")
        try:
            out: dict[str, list[list[Any]]] = {}
            for table in _TABLES:
                rows = await self._rows(f"SELECT * FROM {table} ORDER BY 1, 2")
                out[table] = [[v.hex() if isinstance(v, bytes) else v for v in row] for row in rows]
            out[SNAPSHOT_LOG_START] = [list(await self._compaction_point())]
        finally:
            await self._db.execute("COMMIT")
        return out

    async def snapshot_parts(self, before: Callable[[int], bytes], after: Callable[[bool], bytes],
                             log_bytes: int = SNAPSHOT_LOG_BYTES,
                             part_bytes: float | None = None) -> AsyncGenerator[tuple[bytearray, bool], None]:
        """The snapshot of ``dump`` as JSON bytes, in parts of at most ``part_bytes`` (``snapshot_read.py``), each
        ``(before(n) + part + after(last), last)``: read and encoded in worker threads from a connection of its
        own, in one read transaction. WAL gives it one consistent view while writes go on (they do not wait for it,
        as they waited for ``dump``), and the event loop keeps serving (``snapshot_codec.py`` says how).

        It carries the newest log entries whose ops and results come to at most ``log_bytes``, not the whole log.
        Its ``log_start`` names the last entry left out, so the secondary's log starts there as if compacted (what
        it loses: the first answers of older op_ids, see docs/REPLICATION.md). Close it (``aclosing``) if it is not
        read to its last part: that ends the read transaction."""
        if self.path is None:
            raise RuntimeError("the store has no file to read a snapshot from")
        bound = SNAPSHOT_PART_BYTES if part_bytes is None else part_bytes  # looked up now: a test lowers it
        reader = await open_in_thread(functools.partial(PartReader, self.path, log_bytes, bound), PartReader.close)
        try:
            last, n = False, 0
            while not last:
                body, last = await asyncio.to_thread(reader.next, before(n), after)
                yield body, last
                n += 1
        finally:
            await asyncio.to_thread(reader.close)

    async def dump_encoded(self, log_bytes: int = SNAPSHOT_LOG_BYTES, before: bytes = b"",
                           after: bytes = b"") -> bytearray:
        """The whole snapshot of ``snapshot_parts`` in one part (``before`` and ``after`` wrap it)."""
        async with contextlib.aclosing(self.snapshot_parts(lambda n: before, lambda last: after, log_bytes,
                                                          math.inf)) as parts:
            async for body, _ in parts:
                return body
        raise AssertionError("a snapshot has at least one part")

    async def install(self, snapshot: dict[str, list[list[Any]]], epoch: int) -> None:
        """Replace every table with ``snapshot`` (from ``dump`` of another tracker) in one transaction."""

        async def fill(table: str) -> None:
            rows = snapshot.get(table, [])
            if rows:
                # One executemany per table, run on aiosqlite's thread (the rows' conversion with it): not an
                # await per row, nor the hex decoding of every file's hashes on the event loop.
                marks = ", ".join("?" * len(rows[0]))
                await self._db.executemany(f"INSERT INTO {table} VALUES ({marks})",
                                           snapshot_stage.blobs(rows) if table == "files" else rows)

        async with self._tx:
            await self._install(fill, snapshot.get(SNAPSHOT_LOG_START) or [[0, 0]], epoch)
            self.installs += 1

    # A snapshot in parts (``snapshot_stage.py``): stored aside part by part, installed whole with the last.

    async def stage_begin(self) -> None:
        assert self.path is not None
        async with self._tx:
            await snapshot_stage.begin(self._db, self.path)

    async def stage(self, part: dict[str, list[list[Any]]]) -> None:
        async with self._tx:
            await snapshot_stage.stage(self._db, part)

    async def install_staged(self, epoch: int) -> None:
        """Replace every table with the parts stored, in one transaction; then forget them."""
        assert self.path is not None
        async with self._tx:
            start = await snapshot_stage.staged_start(self._db)
            if not start:
                raise ValueError("the snapshot's parts ended without its log_start")
            await self._install(functools.partial(snapshot_stage.copy_in, self._db), start, epoch)
            self.installs += 1
            await snapshot_stage.drop(self._db, self.path)

    async def stage_drop(self) -> None:
        if self.path is not None:
            async with self._tx:
                await snapshot_stage.drop(self._db, self.path)

    async def _install(self, fill: Callable[[str], Awaitable[None]], start: list[list[int]], epoch: int) -> None:
        await self._db.execute("BEGIN IMMEDIATE")
        try:
            for table in _TABLES:
                await self._db.execute(f"DELETE FROM {table}")
                await fill(table)
            # The log installed starts after the sender's compaction point (a sender from before compaction sends
            # none: its log starts at 1). The marks spoke of the log just replaced: its entries' ages are unknown
            # here, so none is compacted before a new mark has aged (compaction.py).
            await self._set_meta(COMPACTED_INDEX, str(int(start[0][0])))
            await self._set_meta(COMPACTED_EPOCH, str(int(start[0][1])))
            await self._db.execute("DELETE FROM log_marks")
            await self._set_meta("epoch", str(epoch))
        except BaseException:
            await self._db.execute("ROLLBACK")
            raise
        await self._db.execute("COMMIT")

    async def digest_view(self) -> DigestView:
        """A read transaction for ``state_digest``'s digest, opened now (in a worker thread), read later."""
        if self.path is None:
            raise RuntimeError("the store has no file to read a digest from")
        return await open_in_thread(functools.partial(DigestView, self.path), DigestView.close)

    async def digest(self) -> str:
        """SHA-256 of the state tables (not the log): equal on trackers holding the same state. Read and hashed in
        a worker thread, without the store's lock (``state_digest.py``)."""
        view = await self.digest_view()
        return (await asyncio.to_thread(view.read)).digest

