"""One process per data directory: the node and the tracker each hold an exclusive lock on theirs while they run.

Two nodes on one ``--data-dir`` would overwrite each other's session, shares and partial files; two trackers on one
would both write one SQLite database as if it were theirs alone. The lock is ``flock`` on a file inside the
directory: the kernel drops it when the process ends however it ends (even SIGKILL), so no stale lock is ever
left to clean up by hand. The file also records the holder's pid, for the error message only.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
from pathlib import Path

LOCK_FILE = "lock"


class DataDirError(Exception):
    """The data directory cannot be used; the message names it and says why."""


class DirInUse(DataDirError):
    """Another running process holds the directory's lock."""


class DirLock:
    """Held from ``acquire`` until ``release`` or the end of the process."""

    def __init__(self, fd: int, path: Path) -> None:
        self._fd: int | None = fd
        self.path = path

    @classmethod
    def acquire(cls, data_dir: Path) -> DirLock:
        """Create ``data_dir`` if needed and lock it; DirInUse names the holder, DataDirError says why it cannot."""
        path = data_dir / LOCK_FILE
        try:
            data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
        except OSError as exc:
            why = ("something that is not a directory is in the way" if exc.errno in (errno.EEXIST, errno.ENOTDIR)
                   else f"its lock file {path} is a directory" if exc.errno == errno.EISDIR
                   else exc.strerror or str(exc))
            raise DataDirError(f"cannot use data directory {data_dir}: {why}") from None
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                if exc.errno in (errno.EWOULDBLOCK, errno.EACCES):
                    holder = _read_pid(fd)
                    by = f" by process {holder}" if holder else ""
                    raise DirInUse(f"data directory {data_dir} is in use{by}: one process per data directory "
                                   f"(stop the other one or give another --data-dir)") from None
                raise
            # The pid is for the message above only: a full disk must not stop a start over it (the lock is held
            # without it); the state's own writes say what a full disk costs them.
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)
                os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
        except BaseException:
            os.close(fd)  # no descriptor left behind a refusal (it would also keep the flock, if taken)
            raise
        return cls(fd, path)

    def release(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, 0)
            os.close(self._fd)  # closing the only descriptor drops the flock
            self._fd = None


def _read_pid(fd: int) -> int | None:
    try:
        text = os.pread(fd, 32, 0).decode("ascii").strip()
    except (OSError, UnicodeDecodeError):
        return None
    return int(text) if text.isdigit() and text.isascii() else None
