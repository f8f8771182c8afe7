"""A mark, beside the database, that a tracker's data dir holds state: so that losing the database is not
mistaken for a first start.

Why: a tracker that finds an empty or missing ``tracker.sqlite3`` makes a new one and starts a new, empty cluster;
on a data dir used before, that was silent data loss (a 0-byte file after a full disk or a bad copy: users, groups
and logins gone, and, were it elected, an empty state copied to every other tracker). The database cannot say it
lost itself, so the dir says it: once a tracker has started on it, ``state-mark`` sits beside the database. A start
that finds the mark but no state in the database (no file, an empty file, or no epoch recorded in it, which every
start records) is refused with the way out, as a mature tool refuses: restore the database from a backup, or delete
the mark to start empty on purpose (a secondary then copies the state from its primary). A brand-new dir has
no mark and starts as before. Only the mark's existence counts; its text is for the person who finds it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from pathlib import Path

from wire.dir_lock import DataDirError

log = logging.getLogger(__name__)
MARK_FILE = "state-mark"


class StateLost(DataDirError):
    """The data dir held a tracker's state and its database no longer does."""


def marked(data_dir: Path) -> bool:
    return (data_dir / MARK_FILE).exists()


def database_empty(db_path: Path) -> bool:
    """No database file, or one with no byte in it (before SQLite writes its schema into it)."""
    try:
        return db_path.stat().st_size == 0
    except FileNotFoundError:
        return True


def state_lost(data_dir: Path, db_path: Path, what: str) -> StateLost:
    mark = data_dir / MARK_FILE
    return StateLost(
        f"data dir {data_dir} held a tracker's state ({mark} says so), but its database {db_path} {what}: starting "
        f"would begin a new, empty cluster (users, groups and logins gone). Restore {db_path.name} from a backup; "
        f"or, to start this tracker empty on purpose (a secondary then copies the state from its primary), delete "
        f"{mark} and start again")


def mark(data_dir: Path, tracker_no: int) -> None:
    """Leave the mark (once; a full disk only costs the protection, with a warning, not the start)."""
    path = data_dir / MARK_FILE
    text = (f"tracker {tracker_no} started on this data dir on {time.strftime('%Y-%m-%d %H:%M:%S')}. While this "
            f"file is here, a missing or empty tracker.sqlite3 is refused at start instead of a new empty cluster "
            f"begun; delete it to start empty on purpose.\n")
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    except OSError as exc:
        log.warning("cannot leave %s (%s): a lost database would not be noticed at the next start", path, exc)
        return
    try:
        os.write(fd, text.encode("utf-8"))
        os.fsync(fd)
    except OSError as exc:  # the mark is there, which is what counts; its text is short of words only
        log.warning("%s is written short (%s)", path, exc)
    finally:
        os.close(fd)
    with contextlib.suppress(OSError):  # the new name durable too (as every rename of the store is)
        dir_fd = os.open(data_dir, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
