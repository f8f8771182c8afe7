"""A download's verified bitfield on disk: a small JSON file, rewritten in place, written off the event loop.

Theory of operation: a save is a *snapshot* taken on the loop (the bits as they are, with a sequence number)
and a *write* that may run in any thread. No fsync: a crash of the node, not of the machine, is what resuming
must survive.

A download's snapshots all have the same length (the same fields, and a bitfield of a fixed size in base64), so
once the file exists each write goes over it in place, at offset 0: no block is freed or allocated. Why not a
temp file renamed over the old one, as before: every rename freed the old file's block, and on a filesystem
mounted with ``discard`` (the bench machine's ext4) each free sent the device a discard, four a second. On the
bench's virtual disk such a discard sometimes waited 0.3-1.7 s behind the host's writeback, and all the
download's direct writes waited with it: 13 of 47 traced swarm downloads stalled with renames, none of 38 in
place (bench/HISTORY.md, fourteenth session). A rename also made ext4 start writeback of the new file at once.

In place is as safe against a killed node: a write that stops part-way leaves the same length, with every byte
from the old snapshot or the new one. The header is the same in both, and each base64 character holds 6 bits
of one or the other; bits are only ever set while a download runs, so the mix claims no piece the new snapshot
does not, and every piece it claims was written before its bit was set. When the length differs (the first
save, another file's state under the same name, a foreign file), the write is a temp file renamed over it.

A *seal* says whether the bits can be trusted without reading the pieces again. The save made when a store
closes, after its last write, records the partial file's inode, mtime and ctime; every other save records none
(``UNSEALED``, of the same length, so the write stays in place). On resume a seal that still matches the file
means nothing touched it since the node stopped cleanly; no seal (the node was killed) or another file, mtime or
ctime (someone edited it in place, even putting its mtime back) means each claimed piece is read and checked again
(``store.open_partial``). A seal of an earlier version (inode and mtime only) never matches: checked again. The
seal is the last field, so a save cut short leaves it unsealed or whole.

The periodic saves run in a thread because a write can wait on a busy disk (with eight downloads writing, a
rename held a crowd node's event loop 5-10 ms). Writes are serialised by a lock, and a snapshot older than the
one already on disk is dropped, so a late thread never puts back an older bitfield. ``remove`` is final: no
write in flight lands after it (a finished download leaves no state file behind).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import errno
import json
import os
import stat
import threading
from pathlib import Path

from wire.records import FileMeta

SEAL_WIDTH = 20  # digits of each number: a 64-bit inode or nanosecond time fits
UNSEALED = "-" * (3 * SEAL_WIDTH + 2)


def seal_of(st: os.stat_result) -> str:
    """The seal of a partial file as it stands: inode, mtime and ctime, fixed width. The ctime is what tells an
    edit that put the mtime back (``touch -d``): no call sets it, any write or ``utime`` moves it to now."""
    return f"{st.st_ino:0{SEAL_WIDTH}d}-{st.st_mtime_ns:0{SEAL_WIDTH}d}-{st.st_ctime_ns:0{SEAL_WIDTH}d}"


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
        saved = self.load_sealed()
        return saved[0] if saved is not None else None

    def load_sealed(self) -> tuple[bytearray, str] | None:
        """The saved bitfield and its seal (``UNSEALED`` when the saver did not stop cleanly), or None."""
        meta = self._meta
        try:
            state = json.loads(self.path.read_text(encoding="utf-8"))
            if (state.get("v") != 1 or state.get("sha256") != meta.sha256 or state.get("size") != meta.size
                    or state.get("piece_size") != meta.piece_size):
                return None
            bits = bytearray(base64.b64decode(state["bits"], validate=True))
            seal = state.get("seal", UNSEALED)
        except (OSError, ValueError, KeyError, TypeError, AttributeError, binascii.Error):
            return None
        if len(bits) != (meta.piece_count + 7) // 8:
            return None
        return bits, seal if isinstance(seal, str) else UNSEALED

    def snapshot(self, bits: bytes | bytearray, seal: str = UNSEALED) -> tuple[int, bytes]:
        """On the loop: what to write, numbered in the order taken."""
        meta = self._meta
        self._taken += 1
        state = {"v": 1, "sha256": meta.sha256, "size": meta.size, "piece_size": meta.piece_size,
                 "bits": base64.b64encode(bits).decode("ascii"), "seal": seal}
        return self._taken, json.dumps(state).encode("utf-8")

    def write(self, seq: int, data: bytes) -> bool:
        """Any thread: put snapshot ``seq`` on disk unless a newer one is there or the state was removed;
        whether it was written."""
        with self._lock:
            if self._removed or seq <= self._written:
                return False
            if not self._overwrite(data):
                tmp = self.path.with_name(self.path.name + ".tmp")
                tmp.write_bytes(data)
                os.replace(tmp, self.path)
            self._written = seq
            return True

    def _overwrite(self, data: bytes) -> bool:
        """Write ``data`` over the state file in place if it has exactly that length; whether it did."""
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError as e:
            if e.errno in (errno.ENOENT, errno.ELOOP, errno.EISDIR):  # none yet, or not ours to write through
                return False
            raise
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode) or st.st_size != len(data):
                return False
            view = memoryview(data)
            while view:
                view = view[os.pwrite(fd, view, len(data) - len(view)):]
        finally:
            os.close(fd)
        return True

    def save(self, bits: bytes | bytearray, seal: str = UNSEALED) -> None:
        """Snapshot and write now, in the caller's thread."""
        self.write(*self.snapshot(bits, seal))

    def remove(self) -> None:
        """Delete the state for good: later writes, even ones already in flight, do nothing."""
        with self._lock:
            self._removed = True
            for path in (self.path, self.path.with_name(self.path.name + ".tmp")):
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
