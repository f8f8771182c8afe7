"""``download_views``: how a download looks from its record when no task runs (paused, failed, resuming), or while
it checks a whole file found at its destination, and whether a removed one is still shared."""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path
from typing import cast

import pytest

from peer_node import download_records
from peer_node.download_views import download_view, still_shared
from peer_node.downloads import DownloadManager
from peer_node.hashing import FileHashes, Progress, hash_in_thread
from peer_node.state import DownloadRecord, NodeState, ShareRecord
from peer_node.swarm.catalog import ServedFiles
from peer_node.tracker_client import TrackerClient
from peer_node.views import DownloadState, SharedFile
from peer_node.web_ui.download_words import detail_text, state_word
from tests.swarm.helpers import make_file, meta_of
from wire.errors import NotLoggedIn
from wire.records import FileMeta

META = FileMeta("f.bin", 10 * 16384, 16384, hashlib.sha256(b"x").hexdigest(), tuple(bytes(32) for _ in range(10)))


def _rec(state: DownloadState, **kw: object) -> DownloadRecord:
    return DownloadRecord("alice", "lab", "f.bin", "/dl/f.bin", state.value, META, **kw)  # type: ignore[arg-type]


def test_a_paused_or_failed_download_shows_what_it_keeps_in_its_bar_and_its_map() -> None:
    for state in (DownloadState.PAUSED, DownloadState.FAILED):
        view = download_view(_rec(state, bytes_kept=3 * 16384, kept_bits="e000"), None, None, "")
        assert view.state is state and view.bytes_done == 3 * 16384 and view.percent == 30
        assert view.piece_states == "ddd......."  # its map is not all grey
    assert download_view(_rec(DownloadState.FAILED), None, None, "").piece_states == ""  # kept nothing: no map


def test_a_download_resuming_shows_what_it_kept_until_its_partial_file_is_open_again() -> None:
    view = download_view(_rec(DownloadState.RUNNING, bytes_kept=5 * 16384), None, None, "")
    assert view.percent == 50  # not 0% for the moment it takes to open the file


def test_a_removed_download_counts_as_not_shared_once_its_user_logged_out_meanwhile() -> None:
    view = download_view(_rec(DownloadState.COMPLETE), None, None, "")

    def logged_out() -> list[SharedFile]:
        raise NotLoggedIn("not logged in")

    assert still_shared(logged_out, view) is False  # not an error after the removal was done
    assert still_shared(lambda: [SharedFile(view.group_id, view.file_name, "/x", 1, "ab")], view) is True



async def test_a_whole_file_found_at_the_destination_shows_its_check_going_as_other_hash_checks_do(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A download whose file is already whole at its destination (it finished while the data dir was full) hashes
    it before it is complete: its row says it checks, and how far, not a silent 0%."""
    target = tmp_path / "data.bin"
    data = make_file(target, 4 * 16384)
    meta = meta_of("data.bin", data, 16384)
    state = NodeState(tmp_path / "node")
    state.load()
    halfway, go_on = asyncio.Event(), asyncio.Event()

    async def held_halfway(path: str, piece_size: int | None = None, progress: Progress | None = None) -> FileHashes:
        if progress is not None:
            progress(len(data) // 2, len(data))
        halfway.set()
        await go_on.wait()
        return await hash_in_thread(path, piece_size, progress)

    monkeypatch.setattr(download_records, "hash_in_thread", held_halfway)
    adopted: list[ShareRecord] = []

    async def adopt(share: ShareRecord) -> None:
        adopted.append(share)

    mgr = DownloadManager(state, cast(TrackerClient, None), ServedFiles(), no_peer_timeout=5.0, on_complete=adopt,
                          on_change=lambda: None)
    await state.put_download(DownloadRecord("alice", "lab", "data.bin", str(target), DownloadState.RUNNING.value,
                                            meta))
    mgr.resume_all("alice")
    try:
        await asyncio.wait_for(halfway.wait(), 30)
        (view,) = mgr.views("alice")
        assert view.checking and view.bytes_done == len(data) // 2 and view.percent == 50
        assert state_word(view) == "Checking"
        assert detail_text(view) == (f"Checking the file already at {target}: if it is whole, it is kept, not "
                                     "downloaded again")
    finally:
        go_on.set()
        await asyncio.wait_for(asyncio.gather(*mgr._tasks.values()), 30)
    (view,) = mgr.views("alice")
    assert view.state is DownloadState.COMPLETE and not view.checking and len(adopted) == 1
