"""The refusals of ``download_file`` that depend on the node's other downloads: a file already downloading (or
paused), a file already downloaded and still where it was saved, a destination another download is writing or
holds while paused, a partial file that is not this download's where its own would go.

Each raises ``Conflict`` (409) with what to do instead; the destination's own rules are ``destinations.py``'s.
"""

from __future__ import annotations

import asyncio
import os
import shlex
from collections.abc import Mapping
from pathlib import Path

from peer_node.destinations import partial_in_the_way, resolve_destination
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


def refuse_if_paused(key: Key, downloads: Mapping[Key, DownloadRecord], resuming: DownloadRecord | None) -> None:
    """Conflict for a new ``download_file`` of a paused download (``resuming``: the resume itself, let through):
    it is still under way, and starting it afresh elsewhere deleted its kept pieces without a word."""
    rec = downloads.get(key)
    if resuming is None and rec is not None and rec.state == DownloadState.PAUSED.value:
        group, name = key[1], shlex.quote(key[2])
        raise Conflict(f"the download of {key[2]} from {group} is paused, at {rec.destination}; resume_download "
                       f"{group} {name} to go on, or remove_download {group} {name} first to download it elsewhere")


async def refuse_if_done(key: Key, downloads: Mapping[Key, DownloadRecord]) -> None:
    """Conflict while the finished copy is still where it was saved: one record (and one share) per file."""
    rec = downloads.get(key)
    if (rec is not None and rec.state == DownloadState.COMPLETE.value
            and await asyncio.to_thread(os.path.isfile, rec.destination)):
        raise Conflict(f"the file {key[2]} of {key[1]} is already downloaded, at {rec.destination}; copy it "
                       f"from there, or remove_download {key[1]} {shlex.quote(key[2])} first to download it again")


def refuse_if_target_taken(key: Key, target: Path, tasks: Mapping[Key, asyncio.Task[None]],
                           downloads: Mapping[Key, DownloadRecord]) -> None:
    """Conflict when a running download of another file writes the same destination, or a paused one holds it
    (it would find its place taken when resumed, and could never finish)."""
    for other_key, rec in downloads.items():
        if other_key == key or rec.destination != str(target):
            continue
        task = tasks.get(other_key)
        if task is not None and not task.done():
            raise Conflict(f"another download is already writing {target}")
        if rec.state == DownloadState.PAUSED.value:
            raise Conflict(f"the paused download of {other_key[2]} from {other_key[1]} is to be saved as {target}")


async def refuse_to_start(key: Key, destination: str, resuming: DownloadRecord | None,
                          tasks: Mapping[Key, asyncio.Task[None]], downloads: Mapping[Key, DownloadRecord],
                          starting: Mapping[Key, Path | None]) -> Path:
    """Every refusal above, then the destination's: the file's path there if the download may start.
    ``starting``: the targets of other downloads being started (not yet in ``downloads``)."""
    await refuse_if_running(key, tasks, downloads)
    refuse_if_paused(key, downloads, resuming)
    await refuse_if_done(key, downloads)
    target = resolve_destination(destination, key[2])
    refuse_if_target_taken(key, target, tasks, downloads)
    mine = downloads.get(key)
    in_the_way = partial_in_the_way(target, mine is not None and mine.destination == str(target))
    if in_the_way is not None:
        raise Conflict(f"{in_the_way} is already there and is not this download's partial file; an existing "
                       "file is never overwritten: move it away or choose another destination")
    if target in starting.values():
        raise Conflict(f"another download is already writing {target}")
    return target
