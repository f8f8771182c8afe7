"""Share-time hashing: the digest of every piece and the SHA-256 of the whole file, without loading the file.

Theory of operation: the work is reading the file once, hashing every piece (BLAKE3, ``wire.pieces``), and
hashing the whole file (SHA-256); only the last is sequential by nature, and it is also the costliest (SHA-256
is about 4x slower than BLAKE3 here). So it runs on two threads: one worker reads every piece (``preadv`` into
recycled buffers) and digests it, and the calling thread only feeds the whole-file hash from those buffers, in
file order. BLAKE3, hashlib and ``preadv`` release the GIL, so on two cores the whole-file hash runs at nearly
its full single-thread speed with everything else beside it. (With SHA-256 pieces the two halves were balanced
by splitting the reads, every other piece each; BLAKE3 pieces made the worker's side light, so it takes all the
reads.) More workers do not help: a third runnable thread only takes CPU from the sequential whole-file hash.
At most ``IN_FLIGHT`` pieces are held at once, which bounds memory (a few piece sizes). ``hash_file`` is
blocking: callers run it in a thread (``asyncio.to_thread``). A progress callback receives the bytes hashed so
far, from the hashing thread.
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from wire.errors import BadInput, NotFound
from wire.pieces import MAX_FILE_SIZE, piece_digest, piece_size_for

IN_FLIGHT = 8
Progress = Callable[[int, int], None]  # (bytes done, total bytes)


@dataclass(frozen=True, slots=True)
class FileHashes:
    size: int
    piece_size: int
    sha256: str
    piece_hashes: tuple[bytes, ...]
    mtime_ns: int


class _Shrank(Exception):
    """The file ended before its recorded size."""


def _fill(fd: int, buf: bytearray, offset: int, n: int) -> None:
    """Read ``n`` bytes at ``offset`` into ``buf[:n]``."""
    with memoryview(buf) as view:
        got = 0
        while got < n:
            k = os.preadv(fd, [view[got:n]], offset + got)
            if k == 0:
                raise _Shrank
            got += k


def _digest(buf: bytearray, n: int) -> bytes:
    with memoryview(buf) as view:
        return piece_digest(view[:n])


def _read_and_digest(fd: int, buf: bytearray, offset: int, n: int) -> bytes:
    """Fill ``buf[:n]`` from ``offset`` and return the piece digest of those bytes (runs in the worker thread)."""
    _fill(fd, buf, offset, n)
    return _digest(buf, n)


def hash_file(path: str, piece_size: int | None = None, progress: Progress | None = None) -> FileHashes:
    """Hash ``path``; raise BadInput if it is not a readable regular file or changes while being read."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise NotFound(f"no such file: {path}") from None
    except OSError as exc:
        raise BadInput(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise BadInput(f"{path} is not a regular file")
        if st.st_size > MAX_FILE_SIZE:
            raise BadInput(f"{path} is too large to share")
        size = st.st_size
        psize = piece_size or piece_size_for(size)
        try:
            whole, hashes = _hash_fd(fd, size, psize, progress)
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
    return FileHashes(size, psize, whole, hashes, st.st_mtime_ns)


def _hash_fd(fd: int, size: int, psize: int, progress: Progress | None) -> tuple[str, tuple[bytes, ...]]:
    whole = hashlib.sha256()
    hashes: list[bytes] = []
    pending: deque[tuple[Future[bytes], bytearray, int]] = deque()
    spare: list[bytearray] = []
    submitted = 0  # bytes read or handed to the worker
    done = 0  # bytes fed to the whole-file hash
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="hash") as pool:
        try:
            while done < size:
                while submitted < size and len(pending) < IN_FLIGHT:
                    n = min(psize, size - submitted)
                    buf = spare.pop() if spare else bytearray(psize)
                    fut = pool.submit(_read_and_digest, fd, buf, submitted, n)
                    pending.append((fut, buf, n))
                    submitted += n
                fut, buf, n = pending.popleft()
                hashes.append(fut.result())
                with memoryview(buf) as view:
                    whole.update(view[:n])
                spare.append(buf)
                done += n
                if progress is not None:
                    progress(done, size)
        finally:
            for fut, _buf, _n in pending:
                fut.cancel()
    return whole.hexdigest(), tuple(hashes)
