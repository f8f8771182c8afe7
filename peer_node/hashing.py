"""Share-time hashing: SHA-256 of every piece and of the whole file, without loading the file into memory.

Theory of operation: one thread reads the file piece by piece (``readinto`` a recycled buffer) and feeds the
whole-file hash, which is sequential by nature; the per-piece hashes go to a small thread pool. hashlib releases
the GIL on large buffers, so on two cores the whole-file hash and the piece hashes run side by side: about twice
the throughput of doing both in one thread. At most ``IN_FLIGHT`` pieces are held at once, which bounds memory
(a few piece sizes). ``hash_file`` is blocking: callers run it in a thread (``asyncio.to_thread``). A progress
callback receives the bytes hashed so far; it is called from the hashing thread.
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from io import FileIO

from wire.errors import BadInput
from wire.pieces import MAX_FILE_SIZE, piece_size_for

IN_FLIGHT = 6
Progress = Callable[[int, int], None]  # (bytes done, total bytes)


@dataclass(frozen=True, slots=True)
class FileHashes:
    size: int
    piece_size: int
    sha256: str
    piece_hashes: tuple[bytes, ...]
    mtime_ns: int


def _digest(buf: bytearray, n: int) -> bytes:
    with memoryview(buf) as view:
        return hashlib.sha256(view[:n]).digest()


def hash_file(path: str, piece_size: int | None = None, progress: Progress | None = None,
              workers: int = 2) -> FileHashes:
    """Hash ``path``; raise BadInput if it is not a readable regular file or changes while being read."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError as exc:
        raise BadInput(f"cannot read {path}: {exc.strerror or exc}") from None
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise BadInput(f"{path} is not a regular file")
    with FileIO(fd, "rb") as f:
        size = st.st_size
        if size > MAX_FILE_SIZE:
            raise BadInput(f"{path} is too large to share")
        psize = piece_size or piece_size_for(size)
        whole = hashlib.sha256()
        hashes: list[bytes] = []
        pending: deque[tuple[Future[bytes], bytearray]] = deque()
        spare: list[bytearray] = []
        done = 0
        with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="hash") as pool:
            while done < size:
                buf = spare.pop() if spare else bytearray(psize)
                n = _read_full(f, buf, min(psize, size - done))
                if n == 0:
                    raise BadInput(f"{path} shrank while it was being hashed")
                with memoryview(buf) as view:
                    whole.update(view[:n])
                pending.append((pool.submit(_digest, buf, n), buf))
                done += n
                while len(pending) >= IN_FLIGHT:
                    fut, old = pending.popleft()
                    hashes.append(fut.result())
                    spare.append(old)
                if progress is not None:
                    progress(done, size)
            while pending:
                fut, _old = pending.popleft()
                hashes.append(fut.result())
        after = os.fstat(fd)
        if after.st_size != size or after.st_mtime_ns != st.st_mtime_ns:
            raise BadInput(f"{path} changed while it was being hashed")
    if progress is not None:
        progress(size, size)
    return FileHashes(size, psize, whole.hexdigest(), tuple(hashes), st.st_mtime_ns)


def _read_full(f: FileIO, buf: bytearray, want: int) -> int:
    """Fill ``buf[:want]``; return how many bytes came (less only at an unexpected end of file)."""
    got = 0
    with memoryview(buf) as view:
        while got < want:
            n = f.readinto(view[got:want])
            if not n:
                break
            got += n
    return got
