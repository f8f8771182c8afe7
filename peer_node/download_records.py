"""Steps of a download's task that touch only its record in the node's state (no engine, no files written).

Each takes the ``NodeState`` and the record as the task holds it; the download manager calls them at the start
of a run (``with_meta``, ``finished_before``, ``found_whole``) and when a run is stopped (``keep_given``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import stat
import time
from collections.abc import Awaitable, Callable, Mapping

from peer_node.download_views import given_so_far
from peer_node.hashing import Progress, hash_in_thread
from peer_node.state import DownloadRecord, NodeState, ShareRecord, StateNotSaved
from peer_node.views import DownloadState
from wire.errors import GroupShareError
from wire.records import FileMeta

log = logging.getLogger(__name__)


async def with_meta(state: NodeState, rec: DownloadRecord,
                    fetch_meta: Callable[[str, str], Awaitable[FileMeta]]) -> DownloadRecord:
    """The record with the file's metadata (a download recorded before the tracker answered has none)."""
    if rec.meta is not None:
        return rec
    rec = rec.with_(meta=await fetch_meta(rec.group_id, rec.file_name))
    await state.put_download(rec)
    return rec


async def finished_before(state: NodeState, rec: DownloadRecord) -> bool:
    """A download whose file is already its share at the destination (the manager records the share before
    ``C``, and the node stopped in between): record it ``C`` instead of refusing the file now in place."""
    share = state.shares.get(rec.key)
    if share is None or rec.meta is None or share.meta.sha256 != rec.meta.sha256:
        return False
    if share.path != rec.destination or not await asyncio.to_thread(os.path.isfile, share.path):
        return False
    await mark_complete(state, rec)
    return True


async def mark_complete(state: NodeState, rec: DownloadRecord) -> None:
    """Record ``C`` for a download whose file is whole and in place: in memory whatever the disk says (a data dir
    still full must not turn it into [F]: the next start finds it done again)."""
    done = rec.with_(state=DownloadState.COMPLETE.value, reason="", finished_at=rec.finished_at or time.time())
    try:
        await state.put_download(done, keep_unsaved=True)
    except StateNotSaved as exc:
        log.warning("download %s/%s is complete, but not recorded on disk: %s", rec.group_id, rec.file_name,
                    exc.message)


async def found_whole(rec: DownloadRecord, progress: Progress | None = None) -> ShareRecord | None:
    """The share a download's destination makes when it already holds the listed file, whole (hashed to be sure):
    the download finished while the data dir was full, so neither its ``C`` nor its share reached the disk. None
    for anything else there (``_open`` then refuses it: an existing file is never overwritten). ``progress``: told
    the bytes hashed as the check goes (only when there is a file of the listed size to check)."""
    meta, path = rec.meta, rec.destination
    if meta is None:
        return None
    try:
        st = await asyncio.to_thread(os.lstat, path)
    except OSError:
        return None
    if not stat.S_ISREG(st.st_mode) or st.st_size != meta.size:  # a link is never taken for our download
        return None
    try:
        if (await hash_in_thread(path, None, progress)).sha256 != meta.sha256:
            return None
    except GroupShareError:  # gone or unreadable meanwhile (the hashing's own words): not ours to take
        return None
    return ShareRecord(rec.user_id, rec.group_id, path, meta.size, st.st_mtime_ns, meta, st.st_ctime_ns)


async def keep_given(state: NodeState, rec: DownloadRecord, this_run: Mapping[str, int],
                     kept: int | None = None) -> None:
    """A download stopped (logout, shutdown) keeps in its record what each member gave so far and (``kept``) the
    bytes it has verified, which its row shows until the partial file is open again: a user logging back in saw
    51% turn to 0% for a moment (best effort: a disk that refuses costs only the counts)."""
    now = state.downloads.get(rec.key)
    if now is not None and now.state == DownloadState.RUNNING.value:
        given = given_so_far(rec.bytes_by_peer, this_run)
        with contextlib.suppress(StateNotSaved):
            await state.put_download(now.with_(bytes_by_peer=given, bytes_kept=now.bytes_kept if kept is None
                                               else kept))
