"""The one-time conversion, at start, of a database made before log compaction to ``auto_vacuum=INCREMENTAL``.

Theory of operation: only a VACUUM (a rewrite of the whole file) can turn incremental vacuum on in a database that
has tables. SQLite's VACUUM copies the database into a temporary file (in SQLite's temporary directory, which may be
on another file system than the data dir) and then writes it back through the WAL: it needs the database's size
free twice, once in each place. Run on a disk without that room, it fills the disk to the last byte before it fails
(every other writer on that disk, another tracker of the cluster included, then fails too), leaves a -wal as large
as the space it took, and does it again at every start. So it is run only when the room is there, with a margin;
else the tracker starts unconverted (freed pages are reused, not returned) and says how much room a start needs.
"""

from __future__ import annotations

import logging
import os
import shutil
import sqlite3
from pathlib import Path

import aiosqlite

log = logging.getLogger(__name__)
INCREMENTAL = 2  # PRAGMA auto_vacuum's value for INCREMENTAL
MARGIN_BYTES = 64 << 20  # left free besides the copies: the tracker's own writes, and whatever else uses the disk


def sqlite_temp_dir(env: dict[str, str]) -> str:
    """Where SQLite on Unix puts its temporary files (``unixTempFileDir``): the first writable directory of these."""
    for place in (env.get("SQLITE_TMPDIR"), env.get("TMPDIR"), "/var/tmp", "/usr/tmp", "/tmp", "."):
        if place and os.path.isdir(place) and os.access(place, os.W_OK | os.X_OK):
            return place
    return "."


def shortfall(db_bytes: int, data: tuple[int, int], temp: tuple[int, int]) -> int:
    """Bytes missing for a VACUUM of a ``db_bytes`` database (0: room enough). ``data`` and ``temp`` are (file
    system id, free bytes) of the data dir and of SQLite's temporary directory: one copy goes to each."""
    need = {data[0]: db_bytes + MARGIN_BYTES}
    need[temp[0]] = need.get(temp[0], MARGIN_BYTES) + db_bytes
    free = {data[0]: data[1], temp[0]: temp[1]}
    return max(max(0, need[place] - free[place]) for place in need)


def _measure(path: Path) -> tuple[int, int]:
    """(the database's size, bytes missing for its VACUUM), from the file systems as they are now. The size counts
    the -wal too: pages written there since the last checkpoint (a crash, say) are part of what is copied."""
    temp = sqlite_temp_dir(dict(os.environ))
    wal = path.with_name(path.name + "-wal")
    size = path.stat().st_size + (wal.stat().st_size if wal.exists() else 0)
    return size, shortfall(size, (os.stat(path.parent).st_dev, shutil.disk_usage(path.parent).free),
                           (os.stat(temp).st_dev, shutil.disk_usage(temp).free))


async def make_incremental(conn: aiosqlite.Connection, path: Path) -> None:
    """Convert, once, before this tracker serves anyone (so no request waits on it); if it cannot be done (too
    little room, or it fails anyway), the tracker still starts: freed pages are then reused, not returned."""
    async with conn.execute("PRAGMA auto_vacuum") as cur:
        row = await cur.fetchone()
    if row is None or int(row[0]) == INCREMENTAL:
        return
    try:
        size, missing = _measure(path)
    except OSError as exc:
        size, missing = 0, 0
        log.info("could not measure the room for converting %s (%s): trying anyway", path, exc)
    if missing:
        log.warning("%s is not converted to incremental vacuum: the one rewrite this takes needs its size (%d MB) "
                    "free twice, in the data dir and in SQLite's temporary directory (SQLITE_TMPDIR), and %d MB more "
                    "are needed. Until it is done, space freed by compacting the log is reused but not returned; "
                    "it is tried again at the next start", path, size >> 20, (missing >> 20) + 1)
        return
    log.warning("converting %s to incremental vacuum (once: a rewrite of the file) so that compacting the log "
                "gives disk space back", path)
    try:
        await conn.execute(f"PRAGMA auto_vacuum={INCREMENTAL}")
        await conn.execute("VACUUM")
    except sqlite3.OperationalError as exc:  # SQLITE_FULL and the like: the file is as it was
        log.warning("could not convert %s (%s): space freed by compaction is reused but not returned", path, exc)
