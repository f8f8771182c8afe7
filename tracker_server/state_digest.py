"""The digest of a tracker's state tables, with its log's op_ids and position (``/internal/v1/digest``: tests and
operators compare trackers by it), read and hashed in a worker thread, in pieces.

Why: it was ``Store.dump`` twice (every row of every table and of the log, under the store's lock, so every write
waited for it) and one ``json.dumps`` of the whole on the event loop (seconds for a big state, with nothing else
served meanwhile), and tests poll it. Now it is read from a connection of its own in one read transaction (WAL:
writes go on), the rows encoded a batch at a time (``snapshot_codec.encode_rows``) into the hash, never held whole:
the worker thread hands the GIL back to the event loop between two batches. The hash is the one the whole was
given (SHA-256 of ``json.dumps(tables, separators=(",", ":"), sort_keys=True)``, blobs as hex). Trackers of a
release whose tables differ (``group_created`` is newer than some) do not compare equal: upgrade them all.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from tracker_server.snapshot_codec import FIRST_BATCH, encode_rows, next_batch
from tracker_server.snapshot_read import COMPACTED_INDEX, TABLES

_STATE_TABLES = sorted(t for t in TABLES if t != "log")  # in the order json.dumps(sort_keys=True) writes them


@dataclass(frozen=True)
class Digest:
    digest: str  # of the state tables (not the log): equal on trackers holding the same state
    op_ids: list[str]  # the log's, oldest first
    log_index: int  # the newest entry's index, or the compaction point's if the log holds none


class DigestView:
    """One read transaction: opened (``__init__``, in a thread: it fixes the view) where the caller's state is
    settled, then ``read`` (in a thread) while writes go on; ``read`` closes it."""

    def __init__(self, path: Path) -> None:
        self.conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        try:
            self.conn.execute("PRAGMA query_only=ON")
            self.conn.execute("BEGIN")
            self.conn.execute("SELECT 1 FROM meta LIMIT 1").fetchall()  # the first read fixes the view
        except BaseException:
            self.conn.close()
            raise

    def read(self) -> Digest:
        try:
            return Digest(self._digest(), [str(r[0]) for r in self.conn.execute("SELECT op_id FROM log ORDER BY idx")],
                          self._log_index())
        finally:
            self.close()

    def close(self) -> None:
        self.conn.close()

    def _digest(self) -> str:
        sha = hashlib.sha256(b"{")
        for t, table in enumerate(_STATE_TABLES):
            sha.update((b"," if t else b"") + json.dumps(table).encode("ascii") + b":[")
            cur = self.conn.execute(f"SELECT * FROM {table} ORDER BY 1, 2")
            size, first = FIRST_BATCH, True
            while rows := cur.fetchmany(size):  # a batch of about PIECE_BYTES encoded: one call holds the GIL
                piece = encode_rows([[v.hex() if isinstance(v, bytes) else v for v in row] for row in rows])
                sha.update(piece if first else b"," + piece)
                size, first = next_batch(size, len(piece)), False
            sha.update(b"]")
        sha.update(b"}")
        return sha.hexdigest()

    def _log_index(self) -> int:
        newest = self.conn.execute("SELECT MAX(idx) FROM log").fetchone()[0]
        if newest is not None:
            return int(newest)
        row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (COMPACTED_INDEX,)).fetchone()
        return 0 if row is None else int(row[0])
