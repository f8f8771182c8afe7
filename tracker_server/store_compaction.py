"""The store's side of log compaction (policy and schedule: ``compaction.py``): the compaction point, deleting the
oldest entries in one transaction with it, the marks of how far the log reached when, and the free pages handed
back to the file system. A base of ``Store``, which owns the connection and its one lock."""

from __future__ import annotations

import asyncio
from typing import Any

import aiosqlite

from tracker_server.snapshot_read import COMPACTED_EPOCH, COMPACTED_INDEX

# The oldest entries of the log, none past :upto, at most :batch of them and none after the one that brings their
# size to :most: the last one's index (NULL for none).
_OLDEST_RUN = """
WITH RECURSIVE run(idx, bytes, n) AS (
    SELECT idx, length(op) + length(result), 1 FROM log WHERE idx = (SELECT MIN(idx) FROM log) AND idx <= :upto
    UNION ALL
    SELECT log.idx, run.bytes + length(log.op) + length(log.result), run.n + 1
    FROM run JOIN log ON log.idx = run.idx + 1 WHERE run.bytes < :most AND run.n < :batch AND log.idx <= :upto)
SELECT MAX(idx) FROM run"""


class CompactionTables:
    # Provided by Store.
    _db: aiosqlite.Connection
    _tx: asyncio.Lock
    installs: int

    async def _rows(self, sql: str, args: tuple[Any, ...] | dict[str, Any] = ()) -> list[Any]:
        raise NotImplementedError

    async def _set_meta(self, key: str, value: str) -> None:
        raise NotImplementedError

    async def compaction_point(self) -> tuple[int, int]:
        """(index, epoch) of the last entry compacted away; (0, 0) if none was."""
        async with self._tx:
            return await self._compaction_point()

    async def _compaction_point(self) -> tuple[int, int]:
        rows = await self._rows("SELECT key, value FROM meta WHERE key IN (?, ?)", (COMPACTED_INDEX, COMPACTED_EPOCH))
        found = {str(k): int(v) for k, v in rows}
        return found.get(COMPACTED_INDEX, 0), found.get(COMPACTED_EPOCH, 0)

    async def compact(self, upto: int, batch: int, most_bytes: int, installs: int) -> list[str]:
        """Delete the oldest log entries, none past ``upto``, at most ``batch`` of them and no more after the one
        that brings their size to ``most_bytes`` (an entry's op and result), in one transaction that also moves the
        compaction point; return their op_ids (for the caller to forget their answers). Nothing if a snapshot was
        installed since ``installs`` was read: ``upto`` was decided on the log it replaced."""
        async with self._tx:
            if installs != self.installs:
                return []
            await self._db.execute("BEGIN IMMEDIATE")
            try:
                last = (await self._rows(_OLDEST_RUN, {"upto": upto, "batch": batch, "most": most_bytes}))[0][0]
                rows = [] if last is None else \
                    await self._rows("SELECT idx, epoch, op_id FROM log WHERE idx <= ? ORDER BY idx", (int(last),))
                if rows:
                    await self._db.execute("DELETE FROM log WHERE idx <= ?", (int(rows[-1][0]),))
                    await self._set_meta(COMPACTED_INDEX, str(int(rows[-1][0])))
                    await self._set_meta(COMPACTED_EPOCH, str(int(rows[-1][1])))
            except BaseException:
                await self._db.execute("ROLLBACK")
                raise
            await self._db.execute("COMMIT")
        return [str(r[2]) for r in rows]

    async def newest_index(self) -> int:
        """The index of the log's newest entry, or of the compaction point if it holds none."""
        async with self._tx:
            rows = await self._rows("SELECT MAX(idx) FROM log")
            return int(rows[0][0]) if rows[0][0] is not None else (await self._compaction_point())[0]

    async def add_mark(self, at: float, index: int, installs: int) -> None:
        """Record that the log reached ``index`` by ``at`` (unless a snapshot replaced it since ``installs``)."""
        async with self._tx:
            if installs == self.installs:
                await self._db.execute("INSERT INTO log_marks(at, idx) VALUES (?, ?)", (at, index))

    async def marks(self) -> list[tuple[float, int]]:
        async with self._tx:
            return [(float(at), int(idx)) for at, idx in await self._rows("SELECT at, idx FROM log_marks ORDER BY at")]

    async def drop_marks(self, before: float) -> None:
        async with self._tx:
            await self._db.execute("DELETE FROM log_marks WHERE at < ?", (before,))

    async def free_pages(self) -> int:
        async with self._tx:
            return int((await self._rows("PRAGMA freelist_count"))[0][0])

    async def reclaim(self, pages: int) -> None:
        """Give at most ``pages`` free pages back to the file system (one short transaction: pages are moved down
        and the file truncated)."""
        async with self._tx:
            # Not execute(): Python's sqlite3 steps a statement without result columns once, which frees one page.
            await self._db.executescript(f"PRAGMA incremental_vacuum({int(pages)});")
