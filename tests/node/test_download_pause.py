"""DownloadManager's pause and resume without a network (``download_controls``): what can be paused, a download
finishing is let finish, leaving the group ends a paused download too, and a resume starts from the record."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from peer_node.destinations import temp_path_for
from peer_node.state import DownloadRecord
from peer_node.views import DownloadState
from tests.node.test_download_finish import KEY, _held_at_its_share, _running
from wire.errors import Conflict, NotFound


async def test_a_running_download_pauses_with_its_record_kept_and_only_a_paused_one_resumes(tmp_path: Path) -> None:
    mgr, state, target, running = await _running(tmp_path)
    with pytest.raises(Conflict, match=r"is not paused \(running\)"):
        await mgr.resume(*KEY)
    await state.put_download(state.downloads[KEY].with_(bytes_by_peer={"bob": 4096}))
    view = await mgr.pause(*KEY)
    assert running.cancelled() and view.state is DownloadState.PAUSED
    assert state.downloads[KEY].state == DownloadState.PAUSED.value
    assert state.downloads[KEY].bytes_by_peer == {"bob": 4096}  # what each member gave still counts
    with pytest.raises(Conflict, match=r"is not running \(paused\): only a running download can be paused"):
        await mgr.pause(*KEY)
    mgr.resume_all("alice")  # a login or a start: a paused download stays paused
    await mgr.auto_resume.stop()
    assert KEY not in mgr.running_keys() and state.downloads[KEY].state == DownloadState.PAUSED.value
    resumed = await mgr.resume(*KEY)
    assert resumed.state is DownloadState.RUNNING and resumed.destination == str(target)
    assert state.downloads[KEY].bytes_by_peer == {"bob": 4096}
    await mgr.stop_all()
    with pytest.raises(NotFound):
        await mgr.pause("alice", "lab", "nothing.bin")


async def test_a_download_recording_its_share_is_not_paused_but_let_finish(tmp_path: Path) -> None:
    mgr, state, _meta, _data, release = await _held_at_its_share(tmp_path)
    with pytest.raises(Conflict, match=r"is not running \(complete\)"):
        await mgr.pause(*KEY)
    release.set()
    await asyncio.wait_for(asyncio.gather(*mgr._tasks.values()), 30)
    assert state.downloads[KEY].state == DownloadState.COMPLETE.value


async def test_leaving_the_group_ends_a_paused_download_and_deletes_what_it_kept(tmp_path: Path) -> None:
    mgr, state, target, _running_task = await _running(tmp_path)
    await mgr.pause(*KEY)
    temp_path_for(target).write_bytes(b"kept pieces")
    await state.put_download(state.downloads[KEY].with_(bytes_kept=11))
    await mgr.fail_group("alice", "lab", "left the group")
    rec: DownloadRecord = state.downloads[KEY]
    assert rec.state == DownloadState.FAILED.value and rec.reason == "left the group" and rec.bytes_kept == 0
    assert not temp_path_for(target).exists()


async def test_leaving_the_group_waits_for_an_action_on_the_download_in_progress(tmp_path: Path) -> None:
    """Each download under its lock, as pause, resume and remove take it: a resume landing in the middle of a
    leave could otherwise be marked failed while its new task ran on."""
    mgr, state, _target, _running_task = await _running(tmp_path)
    release = asyncio.Event()

    async def an_action_in_progress() -> None:
        async with mgr._locks.hold(KEY):
            await release.wait()

    holder = asyncio.create_task(an_action_in_progress())
    await asyncio.sleep(0)
    leaving = asyncio.create_task(mgr.fail_group("alice", "lab", "left the group"))
    await asyncio.sleep(0.2)
    assert not leaving.done() and state.downloads[KEY].state == DownloadState.RUNNING.value  # it waits its turn
    release.set()
    await asyncio.wait_for(asyncio.gather(holder, leaving), 30)
    assert state.downloads[KEY].state == DownloadState.FAILED.value


async def test_resuming_a_download_nobody_shares_any_more_leaves_it_waiting_for_a_seeder(tmp_path: Path) -> None:
    """Its last sharer stopped while it was paused: Resume answered "no file named ..." (as if it never existed) and
    left it paused for good. Now it waits, pieces kept, and ``auto_resume`` starts it when a member shares it."""
    mgr, state, target, _running_task = await _running(tmp_path)
    await mgr.pause(*KEY)
    temp_path_for(target).write_bytes(b"kept pieces")
    await state.put_download(state.downloads[KEY].with_(bytes_kept=11))

    async def unlisted(path: str) -> dict[str, object]:
        raise NotFound("no file named data.bin in lab")

    mgr.tracker.get = unlisted  # type: ignore[method-assign]
    view = await mgr.resume(*KEY)
    rec: DownloadRecord = state.downloads[KEY]
    assert view.state is DownloadState.FAILED and view.will_resume
    assert rec.resume_when_seeded and rec.bytes_kept == 11 and temp_path_for(target).exists()
    assert view.reason.startswith("nobody shares data.bin now") and "resumes by itself" in view.reason
    assert KEY not in mgr.running_keys()
    await mgr.stop_all()


async def test_a_resume_that_finds_its_download_removed_meanwhile_says_so(tmp_path: Path) -> None:
    mgr, state, _target, _running_task = await _running(tmp_path)
    await mgr.pause(*KEY)

    async def removed_while_asking(path: str) -> dict[str, object]:
        del state.downloads[KEY]
        raise NotFound("no file named data.bin in lab")

    mgr.tracker.get = removed_while_asking  # type: ignore[method-assign]
    with pytest.raises(NotFound):
        await mgr.resume(*KEY)
    assert KEY not in state.downloads
    await mgr.stop_all()
