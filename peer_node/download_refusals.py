"""The refusals of ``download_file`` that depend on the node's other downloads: a file already downloading, a
file already downloaded and still where it was saved, a destination another download is writing.

Each raises ``Conflict`` (409) with what to do instead; the destination's own rules are ``destinations.py``'s.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping
from pathlib import Path

from peer_node.state import DownloadRecord
from peer_node.views import DownloadState
from wire.errors import Conflict

Key = tuple[str, str, str]  # (user id, group id, file name)


async def refuse_if_running(key: Key, tasks: Mapping[Key, asyncio.Task[None]],
                            downloads: Mapping[Key, DownloadRecord]) -> None:
    """Conflict while ``key`` downloads. A task whose record already says how it ended (``F``, ``C``) is only
    saving that: wait for it, so a retry at once after ``[F]`` is not refused as still downloading."""
    task = tasks.get(key)
    if task is None:
        return
    rec = downloads.get(key)
    if rec is None or rec.state == DownloadState.RUNNING.value:
        raise Conflict(f"the file {key[2]} of {key[1]} is already downloading")
    await asyncio.wait([task])  # not ``await task``: cancelling this request must not cancel that task
    if tasks.get(key) not in (None, task):
        raise Conflict(f"the file {key[2]} of {key[1]} is already downloading")


async def refuse_if_done(key: Key, downloads: Mapping[Key, DownloadRecord]) -> None:
    """Conflict while the finished copy is still where it was saved: one record (and one share) per file."""
    rec = downloads.get(key)
    if (rec is not None and rec.state == DownloadState.COMPLETE.value
            and await asyncio.to_thread(os.path.isfile, rec.destination)):
        raise Conflict(f"the file {key[2]} of {key[1]} is already downloaded, at {rec.destination}; copy it "
                       f"from there, or remove_download {key[1]} {key[2]} first to download it again")


def refuse_if_target_taken(target: Path, tasks: Mapping[Key, asyncio.Task[None]],
                           downloads: Mapping[Key, DownloadRecord]) -> None:
    """Conflict when a running download of another file writes the same destination."""
    for other_key, task in tasks.items():
        rec = downloads.get(other_key)
        if rec is not None and not task.done() and rec.destination == str(target):
            raise Conflict(f"another download is already writing {target}")
