"""DownloadManager's last steps without a network: a complete download becomes a share even when the node logs out
or stops as it finishes, and a retry at once after ``[F]`` is not refused as still downloading. Each download here
is filled from a local complete copy, so the engine has nothing to fetch and the task runs straight to its end."""

from __future__ import annotations

import asyncio
import errno
import os
from pathlib import Path
from typing import Any, cast

import pytest

from peer_node import download_records
from peer_node import downloads as downloads_module
from peer_node import state as state_module
from peer_node.data_files import write_atomic
from peer_node.destinations import pieces_state_path, temp_path_for
from peer_node.downloads import DownloadManager
from peer_node.state import DownloadRecord, NodeState, ShareRecord
from peer_node.swarm import PieceStore
from peer_node.swarm import store as store_module
from peer_node.swarm.catalog import ServedFiles
from peer_node.tracker_client import TrackerClient
from peer_node.views import DownloadState
from tests.swarm.helpers import make_file, meta_of
from wire.errors import Conflict, NotFound, Unavailable
from wire.records import FileMeta

PIECE = 16 * 1024
KEY = ("alice", "lab", "data.bin")


def _setup(tmp_path: Path) -> tuple[NodeState, ServedFiles, FileMeta, bytes]:
    data = make_file(tmp_path / "shared.bin", 4 * PIECE)
    meta = meta_of("data.bin", data, PIECE)
    catalog = ServedFiles()
    catalog.register(PieceStore.open_complete(tmp_path / "shared.bin", meta))
    state = NodeState(tmp_path / "node")
    state.load()
    (tmp_path / "dl").mkdir()
    return state, catalog, meta, data


async def _held_at_its_share(tmp_path: Path) -> tuple[DownloadManager, NodeState, FileMeta, bytes, asyncio.Event]:
    """A download of KEY run up to its share record, held there until the returned event is set."""
    state, catalog, meta, data = _setup(tmp_path)
    entered, release = asyncio.Event(), asyncio.Event()

    async def adopt(share: ShareRecord) -> None:  # as ShareKeeper.adopt_download: it awaits before recording
        entered.set()
        await release.wait()
        await state.put_share(share)

    mgr = DownloadManager(state, cast(TrackerClient, None), catalog, no_peer_timeout=5.0,
                          on_complete=adopt, on_change=lambda: None)
    await state.put_download(DownloadRecord(*KEY, str(tmp_path / "dl" / "data.bin"), DownloadState.RUNNING.value,
                                            meta))
    mgr.resume_all("alice")
    await asyncio.wait_for(entered.wait(), 30)
    return mgr, state, meta, data, release


async def test_a_logout_while_the_share_is_being_recorded_waits_for_it(tmp_path: Path) -> None:
    mgr, state, _, data, release = await _held_at_its_share(tmp_path)
    assert mgr.view(state.downloads[KEY]).state is DownloadState.COMPLETE  # [C] shows at once...
    on_disk = NodeState(state.data_dir)
    on_disk.load()
    assert on_disk.downloads[KEY].state == DownloadState.RUNNING.value  # ...but is saved after its share

    stopping = asyncio.create_task(mgr.stop_all())  # the logout
    await asyncio.sleep(0.1)
    assert not stopping.done()  # it waits for the finishing download instead of cancelling it
    release.set()
    await asyncio.wait_for(stopping, 30)

    again = NodeState(state.data_dir)  # what the next start reads
    again.load()
    assert again.downloads[KEY].state == DownloadState.COMPLETE.value
    assert again.shares[KEY].path == str(tmp_path / "dl" / "data.bin")
    assert (tmp_path / "dl" / "data.bin").read_bytes() == data


async def test_a_download_stopped_between_its_share_and_c_is_complete_at_the_next_start(tmp_path: Path) -> None:
    state, catalog, meta, data = _setup(tmp_path)
    target = tmp_path / "dl" / "data.bin"
    target.write_bytes(data)  # moved into place, shared, and the node stopped before recording C ...
    _killed_inside_the_move(state, target)
    st = target.stat()
    await state.put_share(ShareRecord(*KEY[:2], str(target), meta.size, st.st_mtime_ns, meta))
    await state.put_download(DownloadRecord(*KEY, str(target), DownloadState.RUNNING.value, meta))
    adopted: list[ShareRecord] = []

    async def adopt(share: ShareRecord) -> None:
        adopted.append(share)

    changes: list[None] = []
    mgr = DownloadManager(state, cast(TrackerClient, None), catalog, no_peer_timeout=5.0,
                          on_complete=adopt, on_change=lambda: changes.append(None))
    mgr.resume_all("alice")
    await asyncio.wait_for(asyncio.gather(*mgr._tasks.values()), 30)

    rec = state.downloads[KEY]
    assert rec.state == DownloadState.COMPLETE.value and rec.reason == ""
    assert target.read_bytes() == data and target.stat().st_mtime_ns == st.st_mtime_ns  # left as it was
    assert adopted == [] and changes  # already a share; the heartbeat is told
    assert mgr.view(rec).state is DownloadState.COMPLETE
    _nothing_left_but_the_file(state, target)


def _killed_inside_the_move(state: NodeState, target: Path) -> None:
    """... killed between the move's link and its unlink (``file_ops.move_into_place``): the partial file's name
    still holds the file, and the pieces state is still there."""
    os.link(target, temp_path_for(target))
    pieces_state_path(state.data_dir, KEY).write_text("{}")


def _nothing_left_but_the_file(state: NodeState, target: Path) -> None:
    assert not os.path.lexists(temp_path_for(target)), "a hidden second name of the file, kept forever"
    assert not pieces_state_path(state.data_dir, KEY).exists()
    assert target.stat().st_nlink == 1


async def test_a_share_of_other_content_under_the_name_does_not_complete_a_download(tmp_path: Path) -> None:
    state, catalog, meta, _ = _setup(tmp_path)
    target = tmp_path / "dl" / "data.bin"
    target.write_bytes(b"something else")
    other = FileMeta("data.bin", 14, PIECE, "0" * 64, (bytes(32),))
    await state.put_share(ShareRecord(*KEY[:2], str(target), 14, target.stat().st_mtime_ns, other))
    await state.put_download(DownloadRecord(*KEY, str(target), DownloadState.RUNNING.value, meta))

    async def adopt(share: ShareRecord) -> None:
        return None

    mgr = DownloadManager(state, cast(TrackerClient, None), catalog, no_peer_timeout=5.0,
                          on_complete=adopt, on_change=lambda: None)
    mgr.resume_all("alice")
    await asyncio.wait_for(asyncio.gather(*mgr._tasks.values()), 30)

    rec = state.downloads[KEY]
    assert rec.state == DownloadState.FAILED.value and "never overwritten" in rec.reason
    assert target.read_bytes() == b"something else"


def _manager(state: NodeState, catalog: ServedFiles, tracker: object) -> DownloadManager:
    """A manager whose finished downloads become shares at once, with ``tracker`` for its one kind of call."""
    return DownloadManager(state, cast(TrackerClient, tracker), catalog, no_peer_timeout=5.0,
                           on_complete=state.put_share, on_change=lambda: None)


async def _running(tmp_path: Path) -> tuple[DownloadManager, NodeState, Path, asyncio.Task[None]]:
    """KEY recorded as running, with a stand-in task that runs until cancelled."""
    state, catalog, meta, _ = _setup(tmp_path)
    target = tmp_path / "dl" / "data.bin"
    mgr = _manager(state, catalog, _Tracker(meta))
    await state.put_download(DownloadRecord(*KEY, str(target), DownloadState.RUNNING.value, meta))
    running = asyncio.create_task(asyncio.sleep(3600))
    mgr._tasks[KEY] = running
    return mgr, state, target, running


class _Tracker:
    """The one tracker call ``start`` makes: the file's metadata, an access token and no seeders."""

    def __init__(self, meta: FileMeta) -> None:
        self.meta = meta

    async def get(self, path: str) -> dict[str, object]:
        return {**self.meta.to_json(), "token": "t", "seeders": []}


async def test_a_retry_at_once_after_f_waits_for_the_failed_task_to_end(tmp_path: Path) -> None:
    state, catalog, meta, data = _setup(tmp_path)
    target = tmp_path / "dl" / "data.bin"
    mgr = _manager(state, catalog, _Tracker(meta))
    await state.put_download(DownloadRecord(*KEY, str(target), DownloadState.FAILED.value, meta, reason="x"))

    async def saving_the_failure() -> None:  # the failed task: its record says F, its last write is on its way
        await asyncio.sleep(0.3)

    ending = asyncio.create_task(saving_the_failure())
    mgr._tasks[KEY] = ending
    view = await mgr.start(*KEY, str(target))  # the user's retry, while that task ends
    assert ending.done() and view.state is DownloadState.RUNNING
    await asyncio.wait_for(asyncio.gather(*mgr._tasks.values()), 30)
    assert state.downloads[KEY].state == DownloadState.COMPLETE.value
    assert target.read_bytes() == data


async def test_a_second_start_of_a_running_download_is_a_conflict(tmp_path: Path) -> None:
    mgr, _, target, running = await _running(tmp_path)
    with pytest.raises(Conflict, match="already downloading"):
        await mgr.start(*KEY, str(target))
    assert not running.done() and not target.exists()
    running.cancel()


class _SlowTracker(_Tracker):
    """A tracker that takes a while to answer: two starts at once both wait in it."""

    async def get(self, path: str) -> dict[str, object]:
        await asyncio.sleep(0.2)
        return await super().get(path)


@pytest.mark.parametrize("same_place", [True, False])
async def test_two_starts_at_once_of_one_file_start_it_once(tmp_path: Path, same_place: bool) -> None:
    # A double click, or two /cmd calls at once: each used to pass the checks while the other asked the tracker,
    # and two tasks wrote one partial file (one ended [F] over the other's good copy).
    state, catalog, meta, data = _setup(tmp_path)
    mgr = _manager(state, catalog, _SlowTracker(meta))
    (tmp_path / "dl2").mkdir()
    places = [tmp_path / "dl", tmp_path / "dl" if same_place else tmp_path / "dl2"]
    answers = await asyncio.gather(*(mgr.start(*KEY, str(place)) for place in places), return_exceptions=True)
    assert [type(a) for a in answers] == [type(answers[0]), Conflict] and not isinstance(answers[0], Exception)
    assert "already downloading" in str(answers[1])
    await asyncio.wait_for(asyncio.gather(*mgr._tasks.values()), 30)
    assert state.downloads[KEY].state == DownloadState.COMPLETE.value
    assert (tmp_path / "dl" / "data.bin").read_bytes() == data and not (tmp_path / "dl2" / "data.bin").exists()
    assert mgr._starting == {}


async def test_two_files_started_at_once_to_one_new_path_are_one_download(tmp_path: Path) -> None:
    state, catalog, meta, data = _setup(tmp_path)
    mgr = _manager(state, catalog, _SlowTracker(meta))
    target = str(tmp_path / "dl" / "copy.bin")
    answers = await asyncio.gather(mgr.start(*KEY, target), mgr.start("alice", "lab", "other.bin", target),
                                   return_exceptions=True)
    assert not isinstance(answers[0], Exception)
    assert isinstance(answers[1], Conflict) and "another download is already writing" in str(answers[1])
    await asyncio.wait_for(asyncio.gather(*mgr._tasks.values()), 30)
    assert (tmp_path / "dl" / "copy.bin").read_bytes() == data


async def test_leaving_the_group_lets_a_finishing_download_finish_and_fails_a_running_one(tmp_path: Path) -> None:
    mgr, state, meta, data, release = await _held_at_its_share(tmp_path)
    other_key = ("alice", "lab", "other.bin")  # a download still fetching, with a partial file
    other_target = tmp_path / "dl" / "other.bin"
    await state.put_download(DownloadRecord(*other_key, str(other_target), DownloadState.RUNNING.value, meta,
                                            bytes_by_peer={"bob": 3_700_000}))
    temp_path_for(other_target).write_bytes(b"partial")
    running = asyncio.create_task(asyncio.sleep(3600))
    mgr._tasks[other_key] = running

    leaving = asyncio.create_task(mgr.fail_group("alice", "lab", "left the group"))
    await asyncio.sleep(0.1)
    release.set()
    await asyncio.wait_for(leaving, 30)

    assert state.downloads[KEY].state == DownloadState.COMPLETE.value and KEY in state.shares
    assert (tmp_path / "dl" / "data.bin").read_bytes() == data
    assert running.cancelled()
    assert state.downloads[other_key].state == DownloadState.FAILED.value
    # Its pieces are deleted: nothing of what members gave counts any more ("0 B of 40 MB, received from bob 3.7 MB")
    assert state.downloads[other_key].bytes_by_peer == {} and not temp_path_for(other_target).exists()
    assert state.downloads[other_key].reason == "left the group"
    assert not temp_path_for(other_target).exists()


async def test_the_tracker_hears_of_the_share_after_c_and_a_tracker_down_leaves_it_complete(tmp_path: Path) -> None:
    state, catalog, meta, data = _setup(tmp_path)
    seen: list[str] = []

    async def register(share: ShareRecord) -> None:  # the tracker is unreachable
        seen.append(state.downloads[KEY].state)
        raise Unavailable("no tracker answered")

    mgr = DownloadManager(state, cast(TrackerClient, None), catalog, no_peer_timeout=5.0,
                          on_complete=state.put_share, register=register, on_change=lambda: None)
    await state.put_download(DownloadRecord(*KEY, str(tmp_path / "dl" / "data.bin"), DownloadState.RUNNING.value,
                                            meta))
    mgr.resume_all("alice")
    await asyncio.wait_for(asyncio.gather(*mgr._tasks.values()), 30)

    assert seen == [DownloadState.COMPLETE.value]  # [C] did not wait for the tracker
    assert state.downloads[KEY].state == DownloadState.COMPLETE.value and KEY in state.shares
    assert (tmp_path / "dl" / "data.bin").read_bytes() == data


async def test_a_final_move_the_folder_refuses_fails_the_download_keeping_its_pieces_and_a_retry_finishes(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # As a folder made read-only (or immutable) during the download does: it used to stay [D] 0% with no task
    # behind it, and the next remove_download or download_file of it answered 500.
    state, catalog, meta, data = _setup(tmp_path)
    target = tmp_path / "dl" / "data.bin"
    partial = temp_path_for(target)

    def refused(src: Path, dst: Path, fd: int) -> None:
        raise PermissionError(13, "Permission denied", str(dst))

    monkeypatch.setattr(store_module, "move_into_place", refused)
    mgr = _manager(state, catalog, _Tracker(meta))
    await mgr.start(*KEY, str(target))
    await asyncio.wait_for(asyncio.gather(*mgr._tasks.values()), 30)
    rec = state.downloads[KEY]
    assert rec.state == DownloadState.FAILED.value
    assert rec.reason == (f"disk error: Permission denied ({target}); the verified pieces are kept: Retry resumes "
                          f"from them")
    assert rec.bytes_kept == meta.size and partial.read_bytes() == data and not target.exists()

    monkeypatch.undo()  # the folder is writable again: the retry finishes from the kept pieces
    await mgr.start(*KEY, str(target))
    await asyncio.wait_for(asyncio.gather(*mgr._tasks.values()), 30)
    assert state.downloads[KEY].state == DownloadState.COMPLETE.value and target.read_bytes() == data


async def test_removing_a_download_whose_leftovers_cannot_be_deleted_still_removes_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    state, catalog, meta, _ = _setup(tmp_path)
    target = tmp_path / "dl" / "data.bin"
    await state.put_download(DownloadRecord(*KEY, str(target), DownloadState.FAILED.value, meta, reason="x"))

    def refused(*_: object) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(downloads_module, "remove_partial", refused)
    mgr = _manager(state, catalog, _Tracker(meta))
    view = await mgr.remove(*KEY)  # not a 500: the list loses the row, the log says what stayed on disk
    assert view.state is DownloadState.FAILED and KEY not in state.downloads


async def test_a_download_started_as_the_user_logs_out_waits_for_their_next_login(tmp_path: Path) -> None:
    # Its task used to run on, with the tracker session of whoever logged in next, and register the file as
    # that user's share.
    state, catalog, meta, _ = _setup(tmp_path)
    mgr = _manager(state, catalog, _SlowTracker(meta))
    starting = asyncio.create_task(mgr.start(*KEY, str(tmp_path / "dl")))
    await asyncio.sleep(0.05)  # it asks the tracker...
    await mgr.stop_all()  # ...and the user logs out
    view = await starting
    assert view.state is DownloadState.RUNNING and mgr._tasks == {}  # recorded, not running
    assert state.downloads[KEY].state == DownloadState.RUNNING.value
    mgr.resume_all("alice")  # the next login of alice starts it
    await asyncio.wait_for(asyncio.gather(*mgr._tasks.values()), 30)
    assert state.downloads[KEY].state == DownloadState.COMPLETE.value


async def test_two_removes_at_once_remove_once_and_the_second_finds_nothing(tmp_path: Path) -> None:
    mgr, state, _, running = await _running(tmp_path)
    answers = await asyncio.gather(mgr.remove(*KEY), mgr.remove(*KEY), return_exceptions=True)
    assert not isinstance(answers[0], BaseException) and isinstance(answers[1], NotFound)
    assert KEY not in state.downloads and running.cancelled()


async def test_a_download_that_finishes_while_the_data_dir_is_full_is_complete_not_failed(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The file is whole and in place: state files the disk cannot take must not turn it into [F] for good (it
    did, and a retry was refused: the file "already exists"), at the end of the run nor at the next start."""
    state, catalog, meta, data = _setup(tmp_path)
    target = tmp_path / "dl" / "data.bin"
    real_write = write_atomic
    full = False

    def fills_up(path: Path, content: bytes, mode: int = 0o600) -> None:
        if full:
            raise OSError(errno.ENOSPC, "No space left on device")
        real_write(path, content, mode)

    adopted: list[ShareRecord] = []

    async def adopt(share: ShareRecord) -> None:  # as ShareKeeper.adopt_download (tested in test_share_order)
        nonlocal full
        full = True  # the disk fills up as the download ends
        adopted.append(share)

    monkeypatch.setattr(state_module, "write_atomic", fills_up)
    await state.put_download(DownloadRecord(*KEY, str(target), DownloadState.RUNNING.value, meta))
    mgr = DownloadManager(state, cast(TrackerClient, None), catalog, no_peer_timeout=5.0, on_complete=adopt,
                          on_change=lambda: None)
    mgr.resume_all("alice")
    await asyncio.wait_for(asyncio.gather(*mgr._tasks.values()), 30)
    assert state.downloads[KEY].state == DownloadState.COMPLETE.value
    assert target.read_bytes() == data and len(adopted) == 1

    again = NodeState(state.data_dir)  # the next start, the disk still full: on disk it was still running
    again.load()
    assert again.downloads[KEY].state == DownloadState.RUNNING.value and KEY not in again.shares
    mgr = DownloadManager(again, cast(TrackerClient, None), catalog, no_peer_timeout=5.0, on_complete=adopt,
                          on_change=lambda: None)
    mgr.resume_all("alice")
    await asyncio.wait_for(asyncio.gather(*mgr._tasks.values()), 30)
    assert again.downloads[KEY].state == DownloadState.COMPLETE.value and again.downloads[KEY].reason == ""
    assert len(adopted) == 2 and adopted[1].path == str(target)


@pytest.mark.parametrize("content", ["the file", "other bytes, same size", "a link to the file"])
async def test_a_download_whose_file_is_whole_at_its_destination_is_complete_at_the_next_start(
        tmp_path: Path, content: str) -> None:
    """Neither C nor the share reached the disk (it was full): the next start hashes the file at the destination,
    and only the listed file completes the download; anything else there is still never overwritten."""
    state, catalog, meta, data = _setup(tmp_path)
    target = tmp_path / "dl" / "data.bin"
    if content == "the file":
        target.write_bytes(data)
        _killed_inside_the_move(state, target)
    elif content == "other bytes, same size":
        target.write_bytes(bytes(len(data)))
    else:
        (tmp_path / "elsewhere.bin").write_bytes(data)
        target.symlink_to(tmp_path / "elsewhere.bin")
    adopted = await _resumed_to_its_end(state, catalog, target, meta)
    rec = state.downloads[KEY]
    if content == "the file":
        assert rec.state == DownloadState.COMPLETE.value and rec.reason == ""
        assert [(s.path, s.meta.sha256) for s in adopted] == [(str(target), meta.sha256)]
        assert target.read_bytes() == data
        _nothing_left_but_the_file(state, target)
    else:
        assert rec.state == DownloadState.FAILED.value and "never overwritten" in rec.reason
        assert adopted == []


async def _resumed_to_its_end(state: NodeState, catalog: ServedFiles, target: Path,
                              meta: FileMeta) -> list[ShareRecord]:
    """A download of KEY to ``target``, recorded running, resumed as at a start and run to its end: the shares it
    made."""
    await state.put_download(DownloadRecord(*KEY, str(target), DownloadState.RUNNING.value, meta))
    adopted: list[ShareRecord] = []

    async def adopt(share: ShareRecord) -> None:
        adopted.append(share)

    mgr = DownloadManager(state, cast(TrackerClient, None), catalog, no_peer_timeout=5.0,
                          on_complete=adopt, on_change=lambda: None)
    mgr.resume_all("alice")
    await asyncio.wait_for(asyncio.gather(*mgr._tasks.values()), 30)
    return adopted


async def test_a_file_at_the_destination_that_goes_while_it_is_hashed_leaves_the_download_to_run(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The hashing says "no such file" in its own error type: the download must go on, not fail on those words."""
    state, catalog, meta, data = _setup(tmp_path)
    target = tmp_path / "dl" / "data.bin"
    target.write_bytes(bytes(len(data)))

    async def gone_meanwhile(path: str, piece_size: int | None = None, progress: object = None) -> object:
        target.unlink()
        raise NotFound(f"no such file: {path}")

    monkeypatch.setattr(download_records, "hash_in_thread", gone_meanwhile)
    adopted = await _resumed_to_its_end(state, catalog, target, meta)
    assert state.downloads[KEY].state == DownloadState.COMPLETE.value, state.downloads[KEY].reason
    assert target.read_bytes() == data and len(adopted) == 1


def _held_at_its_lookup(tmp_path: Path) -> tuple[NodeState, DownloadManager, asyncio.Event, asyncio.Event]:
    """A manager whose downloads of KEY's file ask the tracker and wait: ``asked`` is set when one has asked, and
    setting ``answered`` lets the answer come."""
    state, catalog, meta, _ = _setup(tmp_path)
    mgr = DownloadManager(state, cast(TrackerClient, None), catalog, no_peer_timeout=5.0,
                          on_complete=lambda share: asyncio.sleep(0), on_change=lambda: None)
    asked, answered = asyncio.Event(), asyncio.Event()

    async def lookup(group_id: str, file_name: str) -> tuple[FileMeta, Any]:
        asked.set()
        await answered.wait()
        return meta, None

    mgr.fetch_swarm = lookup  # type: ignore[method-assign]
    return state, mgr, asked, answered


async def test_a_download_started_as_its_group_is_left_is_ended_by_the_leave(tmp_path: Path) -> None:
    """download_file and leave_group at once: the download's tracker lookup answered before the leave reached the
    tracker, and it recorded and ran its task after the leave had ended the group's downloads: it fetched on."""
    state, mgr, asked, answered = _held_at_its_lookup(tmp_path)
    starting = asyncio.create_task(mgr.start(*KEY, str(tmp_path / "dl")))
    await asyncio.wait_for(asked.wait(), 5)
    leaving = asyncio.create_task(mgr.fail_group("alice", "lab", "left the group"))
    await asyncio.sleep(0.05)
    answered.set()  # the tracker's answer, from before the leave
    await asyncio.wait_for(asyncio.gather(starting, leaving), 30)
    rec = state.downloads[KEY]
    assert (rec.state, rec.reason) == (DownloadState.FAILED.value, "left the group")
    assert KEY not in mgr._tasks or mgr._tasks[KEY].done()
    assert not temp_path_for(tmp_path / "dl" / "data.bin").exists()


async def test_a_download_started_across_a_logout_and_login_of_its_user_runs(tmp_path: Path) -> None:
    """The user logged out and in again while the download asked the tracker: it was recorded as running for
    "the next login", which had already come, and sat [D] with no task until another one."""
    state, mgr, asked, answered = _held_at_its_lookup(tmp_path)
    mgr.resume_all("alice")
    starting = asyncio.create_task(mgr.start(*KEY, str(tmp_path / "dl")))
    await asyncio.wait_for(asked.wait(), 5)
    await mgr.stop_all()  # logout ...
    mgr.resume_all("alice")  # ... and login again
    answered.set()
    await asyncio.wait_for(starting, 10)
    assert state.downloads[KEY].state == DownloadState.RUNNING.value and KEY in mgr.running_keys()
    await mgr.stop_all()
