"""What finishing a download does to its file, apart from the store's bookkeeping: hash it again from disk
(only when the hash streamed while the pieces arrived is incomplete or wrong) and give it its final name without
ever replacing a file of that name. Blocking calls: the store runs them in a thread.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

from wire.errors import Conflict

_HASH_CHUNK = 4 << 20


def sha256_of_fd(fd: int, size: int) -> str:
    """The SHA-256 of the first ``size`` bytes of ``fd``, read in 4 MiB steps (blocking: call from a thread)."""
    digest = hashlib.sha256()
    buf = bytearray(_HASH_CHUNK)
    view = memoryview(buf)
    offset = 0
    while offset < size:
        n = os.preadv(fd, [view[:min(_HASH_CHUNK, size - offset)]], offset)
        if n <= 0:
            break
        digest.update(view[:n])
        offset += n
    return digest.hexdigest()


def move_into_place(temp: Path, final: Path) -> None:
    """Give ``temp`` the name ``final`` without ever replacing an existing ``final``."""
    try:
        os.link(temp, final)
    except FileExistsError:
        raise Conflict(f"{final} already exists") from None
    except OSError:
        # No hard links here (or another filesystem): claim the name exclusively, then fill it.
        try:
            placeholder = os.open(final, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            raise Conflict(f"{final} already exists") from None
        os.close(placeholder)
        try:
            os.replace(temp, final)
        except OSError:
            shutil.copyfile(temp, final)
            temp.unlink()
        return
    temp.unlink()
