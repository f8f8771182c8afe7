"""Share-time hashing: the file's SHA-256 and every piece's hash, in one pass and without loading the file.

Theory of operation: a piece's hash is the SHA-256 chaining value after it (``wire.pieces``), so listing them is
the whole-file SHA-256 with the state noted at each piece boundary: one sequential pass, which reads the file in
steps of 4 MiB (or a piece, if larger) and hashes each step while it is still in this core's cache. The earlier
BLAKE3 piece digests were a second hash of every byte, run on a second thread; one SHA-256 pass is less work
than both were together (SHA-256 and ``preadv`` release the GIL, so the node's loop runs meanwhile). Memory is
that one buffer. ``hash_file`` is blocking; the node calls ``hash_in_thread``, which runs it in a thread and,
when the awaiting task is cancelled (the node stopping with Ctrl-C, a logout), has it stop at its next step: a
thread cannot be killed, and shutting down waited for the whole file to be hashed (34 s for 12 GB). A progress
callback receives the bytes hashed so far, from the hashing thread.
"""

from __future__ import annotations

import asyncio
import os
import stat
import threading
from collections.abc import Callable
from dataclasses import dataclass

from wire.errors import BadInput, NotFound
from wire.pieces import MAX_FILE_SIZE, PieceHasher, piece_size_for

READ_STEP = 4 << 20  # bytes read and hashed at a time (or one piece, if larger)
Progress = Callable[[int, int], None]  # (bytes done, total bytes)


@dataclass(frozen=True, slots=True)
class FileHashes:
    size: int
    piece_size: int
    sha256: str
    piece_hashes: tuple[bytes, ...]
    mtime_ns: int
    # As the read began; None if it moved while the file was read, size and mtime kept (a chmod meanwhile, or a file
    # system that makes ctimes up on each stat, as some FUSE ones do): the share is then watched by size and mtime
    # alone until it is next hashed, instead of being hashed again and again (``shares``).
    ctime_ns: int | None


class _Shrank(Exception):
    """The file ended before its recorded size."""


class HashingStopped(Exception):
    """The hashing was asked to stop (``hash_in_thread``'s caller was cancelled)."""


def _fill(fd: int, buf: bytearray, offset: int, n: int) -> None:
    """Read ``n`` bytes at ``offset`` into ``buf[:n]``."""
    with memoryview(buf) as view:
        got = 0
        while got < n:
            k = os.preadv(fd, [view[got:n]], offset + got)
            if k == 0:
                raise _Shrank
            got += k


_KERNEL_FILES = ("/proc/", "/sys/")


def hash_file(path: str, piece_size: int | None = None, progress: Progress | None = None,
              stop: threading.Event | None = None) -> FileHashes:
    """Hash ``path``; raise BadInput if it is not a readable regular file or changes while being read, and
    HashingStopped once ``stop`` is set."""
    try:
        # O_NONBLOCK: opening a FIFO (or a device) must not wait for a writer; it is refused as not regular below.
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK | os.O_NOCTTY)
    except FileNotFoundError:
        raise NotFound(f"no such file: {path}") from None
    except OSError as exc:
        raise BadInput(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise BadInput(f"{path} is not a regular file")
        if os.path.realpath(path).startswith(_KERNEL_FILES):
            # /proc and /sys files say size 0 and make their bytes up as they are read: never a file to share
            raise BadInput(f"{path} is a kernel status file, not a file to share")
        if st.st_size > MAX_FILE_SIZE:
            raise BadInput(f"{path} is too large to share")
        size = st.st_size
        psize = piece_size or piece_size_for(size)
        try:
            whole, hashes = _hash_fd(fd, size, psize, progress, stop)
        except _Shrank:
            raise BadInput(f"{path} shrank while it was being hashed") from None
        except OSError as exc:
            raise BadInput(f"cannot read {path}: {exc.strerror or exc}") from None
        after = os.fstat(fd)
        if after.st_size != size or after.st_mtime_ns != st.st_mtime_ns:
            raise BadInput(f"{path} changed while it was being hashed")
    finally:
        os.close(fd)
    if progress is not None:
        progress(size, size)
    ctime = st.st_ctime_ns if after.st_ctime_ns == st.st_ctime_ns else None
    return FileHashes(size, psize, whole, hashes, st.st_mtime_ns, ctime)


def _hash_fd(fd: int, size: int, psize: int, progress: Progress | None,
             stop: threading.Event | None) -> tuple[str, tuple[bytes, ...]]:
    hasher = PieceHasher(size, psize)
    buf = bytearray(min(max(psize, READ_STEP), size) or 1)
    with memoryview(buf) as view:
        done = 0
        while done < size:
            if stop is not None and stop.is_set():
                raise HashingStopped
            n = min(len(buf), size - done)
            _fill(fd, buf, done, n)
            hasher.update(view[:n])
            done += n
            if progress is not None:
                progress(done, size)
    return hasher.finish()


async def hash_in_thread(path: str, piece_size: int | None = None, progress: Progress | None = None) -> FileHashes:
    """``hash_file`` in a thread, stopped at its next step when this is cancelled (the module's docstring)."""
    stop = threading.Event()
    try:
        return await asyncio.to_thread(hash_file, path, piece_size, progress, stop)
    except asyncio.CancelledError:
        stop.set()
        raise
