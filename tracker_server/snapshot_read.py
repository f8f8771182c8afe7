"""The primary's side of a snapshot: every table read in one read transaction and encoded as a run of parts, each
under a bound, so that a state of any size can be sent in messages under the internal message cap.

Why parts: a snapshot used to be one message, and the state tables in it had no bound: a tracker whose tables
encode to more than a secondary's message cap (``internal.MAX_INTERNAL_BODY``, 512 MiB) could never bring a lagging
secondary back (413, again and again). Now the encoder (``snapshot_codec.encode_parts``) cuts the snapshot between
rows into parts of at most ``part_bytes``; the secondary stores each aside and installs them all at once with the
last (``snapshot_stage.py``). Only one part is held in memory at a time, here and there.

Why one read transaction over all the parts: they must be of one state. WAL gives the transaction one view while
writes go on (they do not wait for it); the price is that a checkpoint cannot go past it meanwhile (the -wal grows
for as long as the transfer lasts). The connection is the reader's own, used by one worker thread at a time (never
the event loop: reading and encoding a part is seconds of CPU for a big one).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from tracker_server.snapshot_codec import encode_parts

# A table a sender does not have (an older release's) is installed empty; one the receiver does not know is left out.
TABLES = ("users", "sessions", "groups_", "group_created", "members", "requests", "files", "shares", "login_failures",
          "log")
COMPACTED_INDEX, COMPACTED_EPOCH = "compacted_index", "compacted_epoch"
SNAPSHOT_LOG_START = "log_start"  # a snapshot's key for the compaction point: [[index, epoch]]

# The newest entry a snapshot leaves out (``Store.dump_encoded``): the first, counting back from the newest, past
# which the entries' ops and results come to more than ``:most`` characters (ASCII: bytes).
_LOG_LEFT_OUT = """
SELECT idx, epoch FROM (SELECT idx, epoch, SUM(length(op) + length(result)) OVER (ORDER BY idx DESC) AS tail FROM log)
WHERE tail > :most ORDER BY idx DESC LIMIT 1"""


class PartReader:
    """Opened, stepped and closed from worker threads (``Store.snapshot_parts``); ``next`` until it says last."""

    def __init__(self, path: Path, log_bytes: int, part_bytes: float) -> None:
        # check_same_thread off: the steps come from whichever thread of the pool. ``_lock``: never two at once, a
        # close included (a consumer cancelled mid-step closes while that step's thread still reads).
        self._lock = threading.Lock()
        self.conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        try:
            self.conn.execute("PRAGMA query_only=ON")
            self.conn.execute("BEGIN")  # deferred: the first SELECT fixes the view every later one sees
            found = dict(self.conn.execute("SELECT key, value FROM meta WHERE key IN (?, ?)",
                                           (COMPACTED_INDEX, COMPACTED_EPOCH)).fetchall())
            point = [int(found.get(COMPACTED_INDEX, 0)), int(found.get(COMPACTED_EPOCH, 0))]
            left_out = self.conn.execute(_LOG_LEFT_OUT, {"most": log_bytes}).fetchone()
            if left_out is not None:  # the log starts after it, as if compacted up to it
                point = [int(left_out[0]), int(left_out[1])]
        except BaseException:
            self.conn.close()
            raise
        tables = [(table, _select_all(self.conn, table, point[0])) for table in TABLES]
        self._parts = encode_parts([*tables, (SNAPSHOT_LOG_START, [point])], part_bytes)

    def next(self, before: bytes, after: Callable[[bool], bytes]) -> tuple[bytearray, bool]:
        """The next part wrapped in ``before`` and ``after(last)`` (a message's envelope), and whether it is the last.
        Grown a piece at a time: a join of 100+ MB is one call that holds the GIL for ~100 ms."""
        with self._lock:
            pieces, last = next(self._parts)
            out = bytearray(before)
            for piece in pieces:
                out += piece
            out += after(last)
            return out, last

    def close(self) -> None:
        """End the read transaction and close the connection. The encoder first: a table's SELECT it left under
        way holds a statement, and ``close`` with one unfinalized leaves the connection open (SQLite's "zombie",
        its read transaction with it) until the statement's cursor is freed."""
        with self._lock:
            self._parts.close()
            self.conn.close()


def _select_all(conn: sqlite3.Connection, table: str, log_after: int) -> Iterator[tuple[Any, ...]]:
    """The rows of ``table`` in key order, as ``Store.dump`` has them (the log's after ``log_after``), selected when
    the encoder comes to it."""
    if table == "log":
        yield from conn.execute("SELECT * FROM log WHERE idx > ? ORDER BY 1, 2", (log_after,))
    else:
        yield from conn.execute(f"SELECT * FROM {table} ORDER BY 1, 2")
