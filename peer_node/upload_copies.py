"""Copies of files uploaded in the browser: the node keeps each under ``<data-dir>/uploads/<random>/<name>``
and shares it from there (``web_ui/transfer.py``). They are the node's own files, not the user's: a page names
them "uploaded in the browser" instead of that path, and a copy no share uses any more (its share stopped, its
group left, or the same file shared again from elsewhere) is deleted with its folder, so uploads do not pile up
unseen in the data dir.
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Iterable
from pathlib import Path

log = logging.getLogger(__name__)
UPLOADS = "uploads"


def uploads_dir(data_dir: Path) -> Path:
    return data_dir / UPLOADS


def is_upload_copy(path: str, data_dir: Path) -> bool:
    """Whether ``path`` is one of the node's upload copies: exactly ``uploads/<folder>/<name>``."""
    try:
        relative = Path(os.path.abspath(path)).relative_to(os.path.abspath(uploads_dir(data_dir)))
    except ValueError:
        return False
    return len(relative.parts) == 2


def delete_if_unused(path: str, data_dir: Path, paths_in_use: Iterable[str]) -> bool:
    """Delete the upload copy at ``path`` (and its folder) unless a share still uses it; whether it did."""
    if not is_upload_copy(path, data_dir) or path in set(paths_in_use):
        return False
    folder = Path(path).parent
    try:
        shutil.rmtree(folder)
    except FileNotFoundError:
        return False
    except OSError as exc:
        log.warning("cannot delete the upload copy %s: %s", path, exc)
        return False
    return True
