"""A download's disk space, reserved when it starts: ``fallocate(2)`` gives the file all its blocks at once,
writing nothing (ext4 and XFS mark them unwritten, so they read as zeros until a piece lands).

Why: a download that cannot fit fails at once with "No space left on device", not hours later with most of it
received; and the direct writes (``direct_io``) then land in blocks that already exist. On this machine's ext4 a
bare direct writer ran 542-618 MB/s into a reserved file against 466-503 into a sparse one, and a 1 GiB
download from 3 seeders cost its writer threads about 0.1 CPU-s less (2.12-2.24 against 2.24-2.33 CPU-s in
all, 3 interleaved pairs). Reserving 8 GiB takes about 40 ms.

Only on filesystems backed by a block device (a non-zero major device number): tmpfs would turn the reservation
into memory held from the start, and network or FUSE filesystems may emulate it slowly. Called through ctypes,
not ``os.posix_fallocate``: glibc's version falls back to writing a byte into every block where the filesystem
cannot allocate (FAT, older NFS), which for a big download is a long, real write, and no longer sparse.
"""

from __future__ import annotations

import ctypes
import errno
import os
from collections.abc import Callable

_NOT_SUPPORTED = {errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL, errno.EPERM, errno.ENODEV}
_Fallocate = Callable[[int, int, int, int], int]


def _libc_fallocate() -> _Fallocate | None:
    try:
        fn = ctypes.CDLL(None, use_errno=True).fallocate
    except (AttributeError, OSError):  # not glibc/Linux
        return None
    fn.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int64, ctypes.c_int64]
    fn.restype = ctypes.c_int
    return fn


_fallocate: _Fallocate | None = _libc_fallocate()


def on_block_device(fd: int) -> bool:
    """Whether ``fd``'s filesystem sits on a block device (tmpfs, NFS, FUSE and the like have major 0)."""
    return os.major(os.fstat(fd).st_dev) != 0


def reserve(fd: int, size: int) -> bool:
    """Allocate blocks for the first ``size`` bytes of ``fd``'s file, keeping what it holds. True if reserved;
    False where it is not done (see the module doc) or the filesystem cannot; ``OSError`` when the disk (or the
    user's quota) cannot hold the file, or on an I/O error."""
    if size <= 0 or _fallocate is None or not on_block_device(fd):
        return False
    if _fallocate(fd, 0, 0, size) == 0:
        return True
    code = ctypes.get_errno()
    if code in _NOT_SUPPORTED:
        return False
    raise OSError(code, f"{os.strerror(code)} (the file needs {size:,} bytes)")
