"""Test files for the bench: random-looking (every piece distinct) or sparse, made fast.

Theory of operation: os.urandom runs at ~450 MB/s here, too slow to make gigabytes per run, so one 16 MiB
block of random bytes is made and written again and again, each copy stamped every 4 KiB with its copy number
so no two pieces (of any power-of-two size >= 16 KiB) are equal and no hash can be reused. Sparse files
(``truncate``) cost nothing to make and read back as zeros without touching the disk.
"""

from __future__ import annotations

import hashlib
import os
import struct
from pathlib import Path

_BLOCK = 16 << 20
_STAMP_EVERY = 4096


def make_random_file(path: Path, size: int, seed: int = 1) -> Path:
    base = bytearray(hashlib.shake_256(seed.to_bytes(8, "big")).digest(_BLOCK))
    with open(path, "wb") as f:
        copy = 0
        left = size
        while left > 0:
            for off in range(0, _BLOCK, _STAMP_EVERY):
                struct.pack_into(">QQ", base, off, seed, copy)
            n = min(left, _BLOCK)
            f.write(memoryview(base)[:n])
            left -= n
            copy += 1
        # Out to the disk before any run is timed. Otherwise the kernel writes the file back about 30 s after it
        # was made, inside whichever side's run is timed then: a 1 GiB file's write-back held every write of our
        # downloader (direct, and through the page cache alike) for 2 s in one swarm run. The pages stay in the
        # page cache, as before.
        f.flush()
        os.fsync(f.fileno())
    return path


def make_sparse_file(path: Path, size: int) -> Path:
    with open(path, "wb") as f:
        f.truncate(size)
    return path


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb", buffering=0) as f:
        buf = bytearray(4 << 20)
        view = memoryview(buf)
        while n := f.readinto(buf):
            h.update(view[:n])
    return h.hexdigest()


def drop_file(path: Path) -> None:
    """Remove a file (a downloaded copy) so the next run starts from nothing."""
    if path.exists():
        os.unlink(path)
