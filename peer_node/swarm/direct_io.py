"""A download's file I/O past the page cache (``O_DIRECT``) where memory, offset and length allow.

Why: on this machine (a VM whose freed memory goes back to the host within seconds) a page the page cache takes
for the first time is dear: a buffered ``pwrite`` of 256 MiB into a new file costs 0.5-0.6 CPU-seconds, a
buffered read of 256 MiB from disk 0.4-0.5, where the same through ``O_DIRECT`` from a reused, aligned buffer
costs about 0.01 (the device moves the bytes) and the same ``pwrite`` over pages already cached 0.04. A flash
crowd of 8 downloads fills 2 GiB of fresh page cache, which was a third of its CPU. On any machine a download
written past the cache leaves the cache to what the user reads, as libtorrent's ``disable_os_cache`` does.

So a download's pieces are written with ``O_DIRECT`` whenever memory, offset and length are aligned, and read
(to serve them) the same way: they never were in the page cache. A file the user
shared is read through the cache as before: it was just hashed, so its pages are likely there. (Asking the cache
first with ``RWF_NOWAIT`` does not work: on a miss the kernel starts readahead anyway and returns EAGAIN, so the
cache fills all the same.) Anything unaligned, or a filesystem that refuses, goes through the page cache.

A shared file is served the other way round: ``read_cached`` copies what the page cache already holds on the
caller's thread (``RWF_NOWAIT``: never waiting for the disk, so the event loop may call it), and only a miss
goes to a worker thread. Why: with TLS every block of a shared file is read before it is sealed, and py-spy
found a seeder's event loop spending nearly half its time handing those reads to a thread and back, for a copy
out of the cache that takes a tenth of a millisecond. Reading on the spot, the three seeders of a 1 GiB swarm
used 1.34-1.58 CPU-seconds against 1.85-2.16 (sealing it all costs about 0.45; bench/HISTORY.md, twelfth session).
"""

from __future__ import annotations

import ctypes
import errno
import mmap
import os

ALIGN = 4096  # O_DIRECT wants memory, offset and length aligned to the device's block size (4 KiB covers all)
_REFUSED = (errno.EINVAL, errno.EOPNOTSUPP)  # a filesystem that takes O_DIRECT at open but not for this I/O


class _NoWait:
    """Whether ``RWF_NOWAIT`` reads work here: off without the flag (not Linux), and for good once a filesystem
    refuses one (then every read goes to a thread, as before)."""

    flag: int = getattr(os, "RWF_NOWAIT", 0)


def read_cached(fd: int, view: memoryview, offset: int) -> int:
    """Copy into ``view`` what the page cache holds from ``offset`` on, without waiting for the disk: the bytes
    copied (0 on a miss, or where the kernel cannot tell). Fewer than ``len(view)`` means the rest must be read
    the ordinary way (it is not cached, or the file ends)."""
    done, total = 0, len(view)
    while done < total and _NoWait.flag:
        try:
            got = os.preadv(fd, [view[done:]], offset + done, _NoWait.flag)
        except BlockingIOError:  # the next page is not in the cache
            break
        except OSError as exc:
            if exc.errno not in _REFUSED:
                raise
            _NoWait.flag = 0
            break
        if got == 0:
            break
        done += got
    return done


def open_direct(fd: int) -> int:
    """A second descriptor on ``fd``'s file (open for writing) for O_DIRECT I/O, or -1. Opened through
    /proc/self/fd, so it is the very inode ``fd`` names (no race with someone renaming paths), with the checks
    already made on ``fd``."""
    flag = getattr(os, "O_DIRECT", 0)
    if not flag:
        return -1
    try:
        return os.open(f"/proc/self/fd/{fd}", os.O_RDWR | flag | getattr(os, "O_CLOEXEC", 0))
    except OSError:  # no /proc, or a filesystem without direct I/O (tmpfs on older kernels)
        return -1


def address_of(buffer: memoryview | mmap.mmap) -> int:
    """Where writable ``buffer`` starts in memory; TypeError or ValueError for read-only or empty memory."""
    return ctypes.addressof(ctypes.c_char.from_buffer(buffer))


def aligned(view: memoryview) -> bool:
    try:
        address = address_of(view)
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
            if exc.errno not in _REFUSED:
                raise
            usable = False  # refused after all (a filesystem quirk): write through the page cache
    _write_all(fd, view, offset)
    return usable


def read_at(fd: int, direct_fd: int, view: memoryview, offset: int) -> int:
    """Fill ``view`` from ``offset``; fewer bytes only at the end of the file. Through ``direct_fd`` (if open,
    >= 0) where memory and offset are aligned, so the read does not fill the page cache; the rest through ``fd``
    (a direct read first writes back any cached change to its range, so the two never disagree)."""
    done, total = 0, len(view)
    while done < total:
        rest, at = view[done:], offset + done
        length = len(rest) - len(rest) % ALIGN  # a file's unaligned last bytes go through the cache
        got = -1
        if direct_fd >= 0 and length and at % ALIGN == 0 and aligned(rest):
            try:
                got = os.preadv(direct_fd, [rest[:length]], at)
            except OSError as exc:
                if exc.errno not in _REFUSED:
                    raise
        if got < 0:
            got = os.preadv(fd, [rest], at)
        if got == 0:
            break
        done += got
    return done


def _write_all(fd: int, view: memoryview, offset: int) -> None:
    while view:
        written = os.pwrite(fd, view, offset)
        view, offset = view[written:], offset + written
