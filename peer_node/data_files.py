"""Files under the node's data directory written whole: atomically, and set aside (not lost) when damaged.

Every small file the node keeps (its state documents, TLS identity, cookie key, session counts, login check) is
rewritten whole through ``write_atomic``: a temporary name of its own, fsync, rename. A node killed at any moment
restarts on the last complete version, never half a file. A file that cannot be read back is kept for a person
to look at, under one name pattern (``aside_path``) wherever it is found, so one ``ls *.damaged-*`` finds them all.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import time
from pathlib import Path

_UNFINISHED = re.compile(r"\..+\.[0-9a-f]{8}\.tmp")  # write_atomic's temporary names


def write_atomic(path: Path, data: bytes, mode: int = 0o600) -> None:
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def sweep_unfinished_writes(data_dir: Path) -> int:
    """Delete the temporary files of writes a kill cut off (between ``write_atomic``'s create and rename): each
    has a name of its own, so no later write replaces it, and a node killed now and then piled up copies of its
    state (one of ``shares.json`` holds every share's piece hashes). Only at start, under the data directory's
    lock: no write of this node is under way. How many went."""
    swept = 0
    with os.scandir(data_dir) as entries:
        for entry in entries:
            if _UNFINISHED.fullmatch(entry.name) and entry.is_file(follow_symlinks=False):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(entry.path)
                    swept += 1
    return swept


def aside_path(path: Path) -> Path:
    """Where a damaged ``path`` is kept: ``<name>.damaged-<local time>`` beside it."""
    return path.with_name(f"{path.name}.damaged-{time.strftime('%Y%m%d-%H%M%S')}")


def move_aside(path: Path) -> Path:
    """Move a damaged file (or a directory in a file's place) aside; where it went."""
    aside = aside_path(path)
    os.replace(path, aside)
    return aside
