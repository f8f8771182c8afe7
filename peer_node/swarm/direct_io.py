"""Writing a piece past the page cache (``O_DIRECT``) when the memory, offset and length allow, else through it.

Why: a buffered ``pwrite`` of 1 GiB cost a download's writer threads 0.2-1.3 CPU-seconds here (page allocation,
dirty accounting, throttling past the kernel's dirty limit), plus the kernel's writeback later; a direct one about
0.1. The store uses it only for pieces it will not read back soon (see ``store``).
"""

from __future__ import annotations

import ctypes
import errno
import os

ALIGN = 4096  # O_DIRECT wants memory, offset and length aligned to the device's block size (4 KiB covers all)


def open_direct(fd: int) -> int:
    """A second descriptor on ``fd``'s file for O_DIRECT writes, or -1. Opened through /proc/self/fd, so it is
    the very inode ``fd`` names (no race with someone renaming paths), with the checks already made on ``fd``."""
    flag = getattr(os, "O_DIRECT", 0)
    if not flag:
        return -1
    try:
        return os.open(f"/proc/self/fd/{fd}", os.O_WRONLY | flag | getattr(os, "O_CLOEXEC", 0))
    except OSError:  # no /proc, or a filesystem without direct I/O (tmpfs on older kernels)
        return -1


def aligned(view: memoryview) -> bool:
    try:
        address = ctypes.addressof(ctypes.c_char.from_buffer(view))
    except (TypeError, ValueError):  # read-only or empty memory: not ours to write directly
        return False
    return address % ALIGN == 0


def write_at(fd: int, direct_fd: int, view: memoryview, offset: int) -> bool:
    """Write all of ``view`` at ``offset``: through ``direct_fd`` if it is open (>= 0) and everything is aligned,
    else through ``fd``. Returns False if ``direct_fd`` refused (the caller should stop offering it)."""
    usable = True
    if direct_fd >= 0 and (offset | len(view)) % ALIGN == 0 and aligned(view):
        try:
            _write_all(direct_fd, view, offset)
            return True
        except OSError as exc:
            if exc.errno != errno.EINVAL:
                raise
            usable = False  # refused after all (a filesystem quirk): write through the page cache
    _write_all(fd, view, offset)
    return usable


def _write_all(fd: int, view: memoryview, offset: int) -> None:
    while view:
        written = os.pwrite(fd, view, offset)
        view, offset = view[written:], offset + written
