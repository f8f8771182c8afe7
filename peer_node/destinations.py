"""Where a download may land: the contract's destination rules, checked at once when the download is asked for.

An existing directory receives ``<file_name>``; otherwise the path names the new file, whose parent must be an
existing directory. A path ending in ``/`` names a directory, never a new file. An existing file (or anything else
already at that path, a dangling symlink included) is never overwritten. A symlink to a directory (``~/Downloads``
linked to another disk, say), whether the path ends at it or goes on through it (``~/Downloads/film.mkv``), names
that directory when the node's own user (or root) made the link: the download lands in the directory it resolves to
now, so a later change of the link cannot redirect it, and two paths to one file are one destination (a second
download to it is refused, instead of both writing one partial file). A link another user planted (in ``/tmp``,
say) is refused, as the kernel's ``protected_symlinks`` would: it could send the file into a directory that user
reads. The final file itself is created by the node, never through a link.
A relative path is relative to the node's working directory.

An unfinished download keeps two things: its partial file beside the destination (``temp_path_for``) and its
verified-pieces state in the node's data directory (``pieces_state_path``); ``remove_partial`` deletes both.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import stat
from pathlib import Path

from peer_node.swarm.store import PieceStore
from wire.errors import BadInput, Conflict
from wire.names import check_file_name
from wire.records import FileMeta

MAX_PATH_BYTES = 4096
MAX_NAME_BYTES = 255  # one path component, on every Linux file system
PART_SUFFIX = ".gspart"


def resolve_destination(raw: str, file_name: str, cwd: str | None = None) -> Path:
    """Return the absolute path of the file to create; raise BadInput or Conflict if the rules refuse it."""
    check_file_name(file_name)
    if not raw or "\x00" in raw or len(raw.encode("utf-8", "surrogateescape")) > MAX_PATH_BYTES:
        raise BadInput("invalid destination path")
    base = Path(cwd or os.getcwd())
    path = Path(os.path.normpath(base / os.path.expanduser(raw)))
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        st = None
    except OSError as exc:
        raise BadInput(f"destination {raw}: {exc.strerror or exc}") from None
    names_dir = raw.endswith("/")
    if st is not None and os.path.isdir(path):  # a directory, or a link to one
        target = path / file_name
    elif names_dir:
        what = "is not a directory" if st is not None else "does not exist"
        raise BadInput(f"destination {raw}: directory {path} {what}")
    elif st is not None:
        raise Conflict(f"destination {raw} already exists; an existing file is never overwritten")
    else:
        target = path
        parent = target.parent
        if not parent.is_dir():
            raise BadInput(f"destination {raw}: directory {parent} does not exist")
        check_file_name(target.name)
    target = _pinned(target.parent, raw) / target.name
    _check_lengths(target, raw)
    if os.path.lexists(target):
        raise Conflict(f"destination {target} already exists; an existing file is never overwritten")
    if not can_create_in(target.parent):
        raise BadInput(f"destination {raw}: directory {target.parent} is not writable")
    return target


def _check_lengths(target: Path, raw: str) -> None:
    """BadInput unless the file and its partial file (``temp_path_for``) can be made at these paths. Checked here
    because nothing later says so in time: ``os.path.lexists`` answers False for a path too long to look up, and
    the download then failed only once it had run ("File name too long"). The folder was pinned: its links
    resolved, so the lengths are those of the paths the node will open."""
    try:
        name_max = os.pathconf(target.parent, "PC_NAME_MAX")  # 255 on most file systems, less on some
    except (OSError, ValueError):
        name_max = MAX_NAME_BYTES
    for path in (target, temp_path_for(target)):
        if len(os.fsencode(path.name)) > name_max:
            raise BadInput(f"destination {raw}: the name {path.name} is longer than the {name_max} bytes the file "
                           f"system of {target.parent} allows")
        if (length := len(os.fsencode(path))) >= MAX_PATH_BYTES:  # PATH_MAX counts the closing NUL
            raise BadInput(f"destination {raw}: the path {path} is too long ({length} bytes; at most "
                           f"{MAX_PATH_BYTES - 1})")


def _trusted_link_owners() -> set[int]:
    return {os.geteuid(), 0}


def _pinned(folder: Path, raw: str) -> Path:
    """``folder`` (absolute, an existing directory) with its links resolved as they are now; BadInput if one of
    its links was made by another user (the module's docstring)."""
    walked = Path(folder.anchor)
    for part in folder.parts[1:]:
        walked = walked / part
        try:
            st = os.lstat(walked)
        except OSError as exc:
            raise BadInput(f"destination {raw}: {exc.strerror or exc}") from None
        if stat.S_ISLNK(st.st_mode) and st.st_uid not in _trusted_link_owners():
            raise BadInput(f"destination {raw} goes through {walked}, a symbolic link another user made; "
                           "name the directory it points to instead")
    return Path(os.path.realpath(folder))


def can_create_in(folder: Path) -> bool:
    """Whether this process can create a file in ``folder``: tried, not guessed. ``os.access`` says yes to root
    everywhere, /proc and read-only mounts included, and the download then failed only once it had run."""
    if not os.access(folder, os.W_OK | os.X_OK):
        return False
    probe = f".gs-probe-{secrets.token_hex(8)}"
    try:  # in the folder opened once: a probe's name must not push a long folder's path past PATH_MAX
        where = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        os.close(os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600, dir_fd=where))
    except OSError:
        return False
    else:
        with contextlib.suppress(OSError):
            os.unlink(probe, dir_fd=where)
        return True
    finally:
        os.close(where)


def temp_path_for(target: Path) -> Path:
    """The partial file beside the final one (same file system, so the final move is a rename).

    A name too long for ``.<name>.gspart`` is cut in bytes, at a character boundary, and a hash of the whole name
    keeps two long names with one prefix from sharing a partial file."""
    name = f".{target.name}{PART_SUFFIX}"
    encoded = target.name.encode("utf-8", "surrogateescape")
    if len(name.encode("utf-8", "surrogateescape")) > MAX_NAME_BYTES:
        tag = "~" + hashlib.sha256(encoded).hexdigest()[:16]
        room = MAX_NAME_BYTES - len(".") - len(tag) - len(PART_SUFFIX)
        prefix = encoded[:room].decode("utf-8", "ignore")  # drops a character cut in half
        name = f".{prefix}{tag}{PART_SUFFIX}"
    return target.with_name(name)


def partial_in_the_way(target: Path, resumes_here: bool) -> Path | None:
    """The partial-file name of ``target`` when something is there and it is not this download's own partial file
    (``resumes_here``: this download ran before to this same place). A fresh start replaces what is at that name,
    so it would delete a file the user keeps there, or the partial file of another group's file of that name."""
    temp = temp_path_for(target)
    return temp if not resumes_here and os.path.lexists(temp) else None


PIECES_STATE_DIR = "partial"  # under the node's data directory


def pieces_state_name(key: tuple[str, str, str]) -> str:
    """The file name under which the download ``key`` (user, group, file name) records its verified pieces."""
    return hashlib.sha256("\x00".join(key).encode("utf-8")).hexdigest()[:32] + ".json"


def pieces_state_path(data_dir: Path, key: tuple[str, str, str]) -> Path:
    """Where the download ``key`` records its verified pieces; the folder is made."""
    directory = data_dir / PIECES_STATE_DIR
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    return directory / pieces_state_name(key)


def remove_partial(data_dir: Path, key: tuple[str, str, str], destination: str) -> None:
    """Delete what an abandoned download left: its partial file (never through a link) and its pieces state."""
    temp = temp_path_for(Path(destination))
    if temp.is_file() and not temp.is_symlink():
        temp.unlink()
    pieces_state_path(data_dir, key).unlink(missing_ok=True)


def open_partial_beside(target: Path, pieces: Path, meta: FileMeta) -> PieceStore:
    """The partial file of a download to ``target`` (``temp_path_for``), opened or made; ``pieces``: its pieces
    state. Checked again at the open, in the same thread (blocking): ``target`` may have appeared since the
    download was asked for, and a link planted at the partial file's name is never written through."""
    if os.path.lexists(target):
        raise Conflict(f"{target} appeared meanwhile; an existing file is never overwritten")
    temp = temp_path_for(target)
    if os.path.islink(temp):
        raise BadInput(f"{temp} is a symbolic link; refusing to write through it")
    return PieceStore.open_partial(temp, pieces, meta)
