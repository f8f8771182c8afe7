"""What finishing a download does to its file, apart from the store's bookkeeping: give it its final name without
ever replacing a file of that name. A blocking call: the store runs it in a thread.

The file that gets the final name is provably the one the download wrote and verified: the open descriptor's, not
whatever a path names by then. Paths are looked up again at the end, and a folder renamed (or swapped for a link to
another folder holding a planted ``.NAME.gspart``) while the download ran would otherwise hand the user an unverified
file marked complete. So the folder is opened once, the partial file's name in it must still be our inode (st_dev,
st_ino of the descriptor), the final name is made from the descriptor itself (``/proc/self/fd``; linkat's
``AT_EMPTY_PATH`` would need CAP_DAC_READ_SEARCH), and every later step works relative to that folder. Nothing is
deleted that is not ours: a name whose inode is not the descriptor's is left alone.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path

from peer_node.swarm.errors import PartialFileGone
from wire.errors import Conflict

_PROC_FD = "/proc/self/fd"


class FolderChanged(PartialFileGone):
    """The partial file is not where the download left it (its folder moved, deleted or replaced meanwhile): the
    verified data is out of this download's reach, so nothing is put in place and a new download starts afresh."""

    code = "folder_changed"


def identity(st: os.stat_result) -> tuple[int, int]:
    """What makes a file that file, whatever its names: device and inode."""
    return st.st_dev, st.st_ino


def unlink_if_ours(path: Path, ours: tuple[int, int]) -> None:
    """Delete ``path`` only if it is still the file ``ours`` names (never a file planted at that name since)."""
    try:
        st = os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return
    if identity(st) == ours:
        path.unlink(missing_ok=True)


def move_into_place(temp: Path, final: Path, fd: int) -> None:
    """Give the partial file open as ``fd`` (named ``temp``) the name ``final`` (beside it) without ever replacing
    an existing ``final``; on failure nothing is left under ``final`` (an empty file there would block every retry
    as "already exists"). FolderChanged when ``temp`` no longer names that file."""
    if temp.parent != final.parent:
        raise ValueError("the partial file lives beside its final name")
    ours = identity(os.fstat(fd))
    try:
        folder = os.open(temp.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except (FileNotFoundError, NotADirectoryError):
        raise FolderChanged(moved_words(temp, fd)) from None
    try:
        _check_ours(folder, temp, fd, ours)
        _link_or_move(folder, temp.name, final, fd, ours)
    except OSError as exc:
        raise _named_in(exc, temp.parent) from None
    finally:
        os.close(folder)


def _named_in(exc: OSError, folder: Path) -> OSError:
    """``exc`` naming the whole path a user knows: a call relative to the folder names only the file, and a link
    from ``/proc/self/fd`` names the descriptor first (the ``[F]`` reason shows which path to fix)."""
    name = exc.filename2 if exc.filename2 is not None else exc.filename
    if not isinstance(name, str) or "/" in name:
        return exc
    return OSError(exc.errno, exc.strerror, str(folder / name))  # the same subclass (PermissionError, ...)


def _check_ours(folder: int, temp: Path, fd: int, ours: tuple[int, int]) -> None:
    try:
        st = os.stat(temp.name, dir_fd=folder, follow_symlinks=False)
    except FileNotFoundError:
        raise FolderChanged(moved_words(temp, fd)) from None
    if identity(st) != ours:
        raise FolderChanged(f"the partial file {temp} is not the one this download wrote (its folder was moved "
                            f"or replaced meanwhile{_now_at(fd)}): nothing was put in place; download it again to "
                            "start afresh")


def _link_or_move(folder: int, temp_name: str, final: Path, fd: int, ours: tuple[int, int]) -> None:
    try:
        if os.path.isdir(_PROC_FD):
            os.link(f"{_PROC_FD}/{fd}", final.name, dst_dir_fd=folder, follow_symlinks=True)
        else:  # no /proc: by name, in the folder just checked
            os.link(temp_name, final.name, src_dir_fd=folder, dst_dir_fd=folder, follow_symlinks=False)
    except FileExistsError:
        raise Conflict(f"{final} already exists") from None
    except FileNotFoundError:
        raise FolderChanged(moved_words(final.with_name(temp_name), fd)) from None  # deleted since the check
    except OSError:
        # No hard links here (or another filesystem): claim the name exclusively, then fill it.
        _claim_and_fill(folder, temp_name, final, fd, ours)
        return
    if identity(os.stat(final.name, dir_fd=folder, follow_symlinks=False)) != ours:
        raise FolderChanged(f"{final} was replaced as the download finished; nothing of it was removed")
    _unlink_if_ours_at(folder, temp_name, ours)


def _claim_and_fill(folder: int, temp_name: str, final: Path, fd: int, ours: tuple[int, int]) -> None:
    try:
        placeholder = os.open(final.name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                              0o644, dir_fd=folder)
    except FileExistsError:
        raise Conflict(f"{final} already exists") from None
    mine = identity(os.fstat(placeholder))
    try:
        try:
            _check_ours_quietly(folder, temp_name, ours)
            os.replace(temp_name, final.name, src_dir_fd=folder, dst_dir_fd=folder)
        except OSError:
            os.lseek(placeholder, 0, os.SEEK_SET)
            with open(fd, "rb", closefd=False) as src, open(placeholder, "wb", closefd=False) as dst:
                src.seek(0)
                shutil.copyfileobj(src, dst)  # from the descriptor: the bytes we verified, not a path's
            _unlink_if_ours_at(folder, temp_name, ours)
    except BaseException:
        _unlink_if_ours_at(folder, final.name, mine)  # our placeholder (or a half copy), never another file
        raise
    finally:
        os.close(placeholder)


def _check_ours_quietly(folder: int, name: str, ours: tuple[int, int]) -> None:
    if identity(os.stat(name, dir_fd=folder, follow_symlinks=False)) != ours:
        raise FileNotFoundError(name)  # then copied from the descriptor instead of renamed by name


def _unlink_if_ours_at(folder: int, name: str, ours: tuple[int, int]) -> None:
    with contextlib.suppress(FileNotFoundError):
        if identity(os.stat(name, dir_fd=folder, follow_symlinks=False)) == ours:
            os.unlink(name, dir_fd=folder)


def _now_at(fd: int) -> str:
    """Where the partial file is now, as the kernel names it (Linux), for the user to find their data."""
    try:
        where = os.readlink(f"{_PROC_FD}/{fd}")
    except OSError:
        return ""
    return "" if where.endswith(" (deleted)") else f"; the verified data is now at {where}"


def moved_words(temp: Path, fd: int) -> str:
    return (f"the folder {temp.parent} was moved or deleted while the file downloaded, so its verified pieces are "
            f"not where the download can find them{_now_at(fd)}; download it again to start afresh")
