"""A download's verified bitfield on disk: a small JSON file, replaced atomically, written off the event loop.

Theory of operation: a save is a *snapshot* taken on the loop (the bits as they are, with a sequence number)
and a *write* that may run in any thread: temp file, then rename over the old state (no fsync: a crash of the
node, not of the machine, is what resuming must survive). The periodic saves of a download run in a thread
because the rename is slow on a busy disk: ext4 starts writeback of a file renamed over another, and with
eight downloads writing, each rename held the event loop 5-10 ms (cProfile of a flash-crowd node: 12 saves,
0.1 s of its loop). Writes are serialised by a lock, and a snapshot older than the one already on disk is
dropped, so a late thread never puts back an older bitfield. ``remove`` is final: no write in flight lands
after it (a finished download leaves no state file behind).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import os
import threading
from pathlib import Path

from wire.records import FileMeta


class StateFile:
    def __init__(self, path: Path, meta: FileMeta) -> None:
        self.path = path
        self._meta = meta
        self._lock = threading.Lock()
        self._taken = 0  # sequence number of the last snapshot
        self._written = 0  # ... and of the last one on disk
        self._removed = False

    def load(self) -> bytearray | None:
        """The saved bitfield, or None when there is none or it is not this file's (any doubt: start over)."""
        meta = self._meta
        try:
            state = json.loads(self.path.read_text(encoding="utf-8"))
            if (state.get("v") != 1 or state.get("sha256") != meta.sha256 or state.get("size") != meta.size
                    or state.get("piece_size") != meta.piece_size):
                return None
            bits = bytearray(base64.b64decode(state["bits"], validate=True))
        except (OSError, ValueError, KeyError, TypeError, AttributeError, binascii.Error):
            return None
        return bits if len(bits) == (meta.piece_count + 7) // 8 else None

    def snapshot(self, bits: bytes | bytearray) -> tuple[int, bytes]:
        """On the loop: what to write, numbered in the order taken."""
        meta = self._meta
        self._taken += 1
        state = {"v": 1, "sha256": meta.sha256, "size": meta.size, "piece_size": meta.piece_size,
                 "bits": base64.b64encode(bits).decode("ascii")}
        return self._taken, json.dumps(state).encode("utf-8")

    def write(self, seq: int, data: bytes) -> bool:
        """Any thread: put snapshot ``seq`` on disk unless a newer one is there or the state was removed;
        whether it was written."""
        with self._lock:
            if self._removed or seq <= self._written:
                return False
            tmp = self.path.with_name(self.path.name + ".tmp")
            tmp.write_bytes(data)
            os.replace(tmp, self.path)
            self._written = seq
            return True

    def save(self, bits: bytes | bytearray) -> None:
        """Snapshot and write now, in the caller's thread."""
        self.write(*self.snapshot(bits))

    def remove(self) -> None:
        """Delete the state for good: later writes, even ones already in flight, do nothing."""
        with self._lock:
            self._removed = True
            for path in (self.path, self.path.with_name(self.path.name + ".tmp")):
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
