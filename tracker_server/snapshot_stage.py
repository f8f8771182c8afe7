"""The secondary's side of a snapshot sent in parts (``snapshot_read.py``): each part is stored aside, in a
database file of its own next to the tracker's, and the last one replaces every table with what was stored, in one
transaction. Until then the tables (and the state in memory, built from them) are the old ones, whole: a transfer
cut short (the primary gone, a part refused, a disk full) leaves nothing half-installed, and the next transfer
starts again from its first part, throwing away whatever the last one left.

Why a file of its own (ATTACHed), not tables of the tracker's database: the parts are scratch. They need no WAL, no
fsync and no place in the tracker's database file (whose size would stay grown after them), and a crash midway
leaves only a file that the next transfer deletes. Why SQLite at all rather than memory: the state may be bigger
than memory can hold as Python objects (several times its JSON), which is the case parts are for.

The copy into the tracker's tables (``INSERT ... SELECT``) runs in SQLite, on aiosqlite's thread, without the GIL:
the event loop keeps serving meanwhile.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiosqlite

from tracker_server.snapshot_read import SNAPSHOT_LOG_START, TABLES

SCHEMA = "incoming"
_STAGED = (*TABLES, SNAPSHOT_LOG_START)


@dataclass
class Incoming:
    """The transfer a secondary is storing parts of, and the part it expects next."""

    sender: int
    epoch: int
    transfer: str
    next_part: int = 0


def stage_path(db_path: Path) -> Path:
    return db_path.with_name(db_path.name + "-incoming")


async def begin(db: aiosqlite.Connection, db_path: Path) -> None:
    """A new, empty place for the parts (whatever an earlier transfer left there is dropped)."""
    await drop(db, db_path)
    await db.execute(f"ATTACH DATABASE ? AS {SCHEMA}", (str(stage_path(db_path)),))
    await db.execute(f"PRAGMA {SCHEMA}.journal_mode=OFF")  # scratch: a crash only loses a transfer
    await db.execute(f"PRAGMA {SCHEMA}.synchronous=OFF")
    for table in TABLES:  # the same columns, in the same order: the install copies with SELECT *
        await db.execute(f"CREATE TABLE {SCHEMA}.{table} AS SELECT * FROM main.{table} WHERE 0")
    await db.execute(f"CREATE TABLE {SCHEMA}.{SNAPSHOT_LOG_START} (idx, epoch)")


async def stage(db: aiosqlite.Connection, part: dict[str, list[list[Any]]]) -> None:
    """Store one part's rows (a snapshot's form, some tables or some of their rows) in one transaction."""
    await db.execute("BEGIN")
    try:
        for table in _STAGED:
            rows = part.get(table) or []
            if rows:
                marks = ", ".join("?" * len(rows[0]))
                await db.executemany(f"INSERT INTO {SCHEMA}.{table} VALUES ({marks})",
                                     blobs(rows) if table == "files" else rows)
    except BaseException:
        await db.execute("ROLLBACK")
        raise
    await db.execute("COMMIT")


async def staged_start(db: aiosqlite.Connection) -> list[list[int]]:
    """The staged snapshot's ``log_start`` (``[]`` if no part carried it)."""
    async with db.execute(f"SELECT idx, epoch FROM {SCHEMA}.{SNAPSHOT_LOG_START}") as cur:
        return [[int(i), int(e)] for i, e in await cur.fetchall()]


async def copy_in(db: aiosqlite.Connection, table: str) -> None:
    """Within the install's transaction: the table's staged rows into the tracker's table."""
    await db.execute(f"INSERT INTO main.{table} SELECT * FROM {SCHEMA}.{table}")


async def drop(db: aiosqlite.Connection, db_path: Path) -> None:
    """Forget the parts: detach their database (if attached) and delete its file."""
    async with db.execute("SELECT name FROM pragma_database_list WHERE name = ?", (SCHEMA,)) as cur:
        attached = await cur.fetchone() is not None
    if attached:
        await db.execute(f"DETACH DATABASE {SCHEMA}")
    stage_path(db_path).unlink(missing_ok=True)


def blobs(rows: list[list[Any]]) -> Iterator[list[Any]]:
    """The files table's rows with their piece hashes from hex back to a blob."""
    for row in rows:
        yield [*row[:5], bytes.fromhex(row[5])]
