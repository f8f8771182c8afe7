"""Where a download may land: the contract's destination rules, checked at once when the download is asked for.

An existing directory receives ``<file_name>``; otherwise the path names the new file, whose parent must be an
existing directory. An existing file (or anything else already at that path, a dangling symlink included) is
never overwritten, and a symlink is never followed as the final component: the file is created where the user
pointed, not somewhere a link redirects to. A relative path is relative to the node's working directory.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from wire.errors import BadInput, Conflict
from wire.names import check_file_name

MAX_PATH_BYTES = 4096


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
    if st is not None and stat.S_ISDIR(st.st_mode):
        target = path / file_name
    elif st is not None and stat.S_ISLNK(st.st_mode) and os.path.isdir(path):
        raise BadInput(f"destination {raw} is a symbolic link; name a directory or a new file")
    elif st is not None:
        raise Conflict(f"destination {raw} already exists; an existing file is never overwritten")
    else:
        target = path
        parent = target.parent
        if not parent.is_dir():
            raise BadInput(f"destination {raw}: directory {parent} does not exist")
        check_file_name(target.name)
    if os.path.lexists(target):
        raise Conflict(f"destination {target} already exists; an existing file is never overwritten")
    if not os.access(target.parent, os.W_OK | os.X_OK):
        raise BadInput(f"destination {raw}: directory {target.parent} is not writable")
    return target


def temp_path_for(target: Path) -> Path:
    """The partial file beside the final one (same file system, so the final move is a rename)."""
    name = f".{target.name}.gspart"
    if len(name.encode("utf-8")) > 255:
        name = f".{target.name[:200]}.gspart"
    return target.with_name(name)
