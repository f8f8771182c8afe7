"""What finishing a download does to its file, apart from the store's bookkeeping: give it its final name without
ever replacing a file of that name. A blocking call: the store runs it in a thread.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from wire.errors import Conflict


def move_into_place(temp: Path, final: Path) -> None:
    """Give ``temp`` the name ``final`` without ever replacing an existing ``final``; on failure nothing is left
    under ``final`` (an empty file there would block every retry as "already exists")."""
    try:
        os.link(temp, final)
    except FileExistsError:
        raise Conflict(f"{final} already exists") from None
    except (FileNotFoundError, NotADirectoryError):
        raise  # the partial file or the folder is gone: nothing to move, and no name to claim
    except OSError:
        # No hard links here (or another filesystem): claim the name exclusively, then fill it.
        try:
            placeholder = os.open(final, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            raise Conflict(f"{final} already exists") from None
        os.close(placeholder)
        try:
            try:
                os.replace(temp, final)
            except OSError:
                shutil.copyfile(temp, final)
                temp.unlink()
        except BaseException:
            final.unlink(missing_ok=True)  # our placeholder (or a half copy): never a file the user did not get
            raise
        return
    temp.unlink()
