"""DownloadManager.remove without a network: a running task is cancelled and its partial file deleted, while a
download already finishing is let finish (cancelling it could race the rename into place)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import cast

import pytest

from peer_node.destinations import temp_path_for
from peer_node.downloads import DownloadManager
from peer_node.state import DownloadRecord, NodeState
from peer_node.swarm.catalog import ServedFiles
from peer_node.tracker_client import TrackerClient
from peer_node.views import DownloadState
from wire.errors import Conflict, NotFound

KEY = ("bob", "lab", "data.bin")


async def _manager(tmp_path: Path) -> tuple[DownloadManager, NodeState, Path]:
    state = NodeState(tmp_path / "node")
    state.load()
    changes: list[None] = []

    async def registered(_share: object) -> None:
        return None

    mgr = DownloadManager(state, cast(TrackerClient, None), ServedFiles(), no_peer_timeout=5.0,
                          on_complete=registered, on_change=lambda: changes.append(None))
    target = tmp_path / "dl" / "data.bin"
    target.parent.mkdir()
    await state.put_download(DownloadRecord(*KEY, str(target), DownloadState.RUNNING.value))
    return mgr, state, target


async def test_a_running_download_is_cancelled_and_its_partial_file_deleted(tmp_path: Path) -> None:
    mgr, state, target = await _manager(tmp_path)
    partial = temp_path_for(target)
    partial.write_bytes(b"x" * 100)
    task = asyncio.create_task(asyncio.sleep(3600))
    mgr._tasks[KEY] = task

    view = await mgr.remove(*KEY)
    assert view.state is DownloadState.RUNNING
    assert task.cancelled()
    assert not partial.exists()
    assert KEY not in state.downloads
    again = NodeState(state.data_dir)  # the removal is saved, not only in memory
    again.load()
    assert again.downloads == {}


async def test_a_download_verifying_its_whole_file_is_let_finish_and_removed_as_complete(tmp_path: Path) -> None:
    mgr, state, target = await _manager(tmp_path)

    async def finish() -> None:
        await asyncio.sleep(0.2)
        target.write_bytes(b"the whole file")  # what store.finish's rename leaves
        rec = state.downloads[KEY]
        await state.put_download(rec.with_(state=DownloadState.COMPLETE.value))

    task = asyncio.create_task(finish())
    mgr._tasks[KEY] = task
    mgr._finishing.add(KEY)

    view = await mgr.remove(*KEY)
    assert not task.cancelled()
    assert view.state is DownloadState.COMPLETE
    assert target.read_bytes() == b"the whole file"
    assert KEY not in state.downloads


async def test_removing_what_is_not_there_is_not_found(tmp_path: Path) -> None:
    mgr, state, _ = await _manager(tmp_path)
    with pytest.raises(NotFound, match=r"no download of other\.bin from lab"):
        await mgr.remove("bob", "lab", "other.bin")
    with pytest.raises(NotFound):
        await mgr.remove("carol", *KEY[1:])  # another user's download is not ours to remove
    assert KEY in state.downloads


@pytest.mark.parametrize("whose", ["the user's own file", "another group's paused download"])
async def test_a_new_download_never_replaces_a_file_at_its_partial_file_name(tmp_path: Path, whose: str) -> None:
    """A fresh start makes its partial file anew at ``.<name>.gspart``: what is there already is the user's (a
    member may even share a file of that name) or another download's of the same name, and stays as it is."""
    mgr, state, target = await _manager(tmp_path)  # bob's paused download of lab's data.bin into dl/
    partial = temp_path_for(target)
    partial.write_bytes(b"kept")
    if whose == "the user's own file":
        await state.drop_download(KEY)
    with pytest.raises(Conflict, match="is already there and is not this download's partial file"):
        await mgr.start("bob", "lab2", "data.bin", str(target.parent))
    assert partial.read_bytes() == b"kept"
    assert ("bob", "lab2", "data.bin") not in state.downloads


async def test_a_paused_download_keeps_its_pieces_and_its_place_until_resumed_or_removed(tmp_path: Path) -> None:
    """A paused download is still under way: a new download_file of it elsewhere was let through and deleted its
    kept pieces without a word, and a download of another file to its place left it unable ever to finish."""
    mgr, state, target = await _manager(tmp_path)
    await state.put_download(state.downloads[KEY].with_(state=DownloadState.PAUSED.value))
    partial = temp_path_for(target)
    partial.write_bytes(b"kept pieces")
    elsewhere = tmp_path / "dl" / "second.bin"
    with pytest.raises(Conflict, match=r"is paused, at .*data\.bin; resume_download lab data\.bin to go on"):
        await mgr.start(*KEY, str(elsewhere))
    with pytest.raises(Conflict, match=r"the paused download of data\.bin from lab is to be saved as"):
        await mgr.start("bob", "lab", "empty.bin", str(target))
    assert partial.read_bytes() == b"kept pieces" and not elsewhere.exists()
    assert state.downloads[KEY].state == DownloadState.PAUSED.value and set(state.downloads) == {KEY}
