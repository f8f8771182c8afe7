"""The download manager when the destination's folder changes under a download, or the node's own pieces-state
folder refuses at the end: what ``show_downloads`` says is true, and a complete file in place is ``[C]``.

Each download is filled from a local complete copy (no network); the folder change is made just before the file
is moved into place, where the audit's real processes saw it land."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from pathlib import Path
from typing import cast

import pytest

from peer_node.destinations import pieces_state_path, temp_path_for
from peer_node.downloads import DownloadManager
from peer_node.partial_sweep import sweep_pieces_states
from peer_node.state import DownloadRecord, NodeState
from peer_node.swarm import file_ops
from peer_node.swarm import store as store_module
from peer_node.tracker_client import TrackerClient
from peer_node.views import DownloadState
from tests.node.test_download_finish import _setup as seeded
from wire.records import FileMeta

PIECE = 16 * 1024
KEY = ("alice", "lab", "data.bin")


class _Tracker:
    def __init__(self, meta: FileMeta) -> None:
        self.meta = meta

    async def get(self, path: str) -> dict[str, object]:
        return {**self.meta.to_json(), "token": "t", "seeders": []}


def _setup(tmp_path: Path) -> tuple[DownloadManager, NodeState, FileMeta, bytes]:
    state, catalog, meta, data = seeded(tmp_path)
    mgr = DownloadManager(state, cast(TrackerClient, _Tracker(meta)), catalog, no_peer_timeout=5.0,
                          on_complete=state.put_share, on_change=lambda: None)
    return mgr, state, meta, data


def _before_the_move(monkeypatch: pytest.MonkeyPatch, change: Callable[[], None]) -> None:
    real = file_ops.move_into_place

    def move(temp: Path, final: Path, fd: int) -> None:
        change()
        real(temp, final, fd)

    monkeypatch.setattr(store_module, "move_into_place", move)


async def _run(mgr: DownloadManager, target: Path) -> DownloadRecord:
    await mgr.start(*KEY, str(target))
    await asyncio.wait_for(asyncio.gather(*mgr._tasks.values()), 30)
    return mgr.state.downloads[KEY]


async def test_a_folder_renamed_during_the_download_fails_it_with_a_true_reason_and_a_retry_starts_afresh(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    mgr, state, _, data = _setup(tmp_path)
    target = tmp_path / "dl" / "data.bin"
    _before_the_move(monkeypatch, lambda: os.rename(tmp_path / "dl", tmp_path / "dl.moved"))

    rec = await _run(mgr, target)
    assert rec.state == DownloadState.FAILED.value
    # It used to say "disk error: No such file or directory ...; the verified pieces are kept: Retry resumes
    # from them", and a retry to the same path then started from nothing.
    assert rec.reason.startswith(f"the folder {tmp_path / 'dl'} was moved or deleted while the file downloaded")
    assert str(tmp_path / "dl.moved" / ".data.bin.gspart") in rec.reason and "Retry resumes" not in rec.reason
    assert rec.bytes_kept == 0 and not pieces_state_path(state.data_dir, KEY).exists()
    assert (tmp_path / "dl.moved" / ".data.bin.gspart").read_bytes() == data  # the user's data, untouched

    monkeypatch.undo()
    (tmp_path / "dl").mkdir()  # the folder back at its name, empty: the retry does what the reason said
    rec = await _run(mgr, target)
    assert rec.state == DownloadState.COMPLETE.value and target.read_bytes() == data


async def test_a_folder_swapped_for_a_link_to_a_planted_partial_file_never_shows_it_complete(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    mgr, state, _, data = _setup(tmp_path)
    target = tmp_path / "dl" / "data.bin"
    outside = tmp_path / "outside"
    outside.mkdir()
    planted = outside / ".data.bin.gspart"

    def swap() -> None:
        os.rename(tmp_path / "dl", tmp_path / "dl.real")
        os.symlink(outside, tmp_path / "dl")
        planted.write_bytes(b"EVIL" * 1000)

    _before_the_move(monkeypatch, swap)
    rec = await _run(mgr, target)
    assert rec.state == DownloadState.FAILED.value and "not the one this download wrote" in rec.reason
    assert KEY not in state.shares
    assert sorted(os.listdir(outside)) == [".data.bin.gspart"] and planted.read_bytes() == b"EVIL" * 1000
    assert (tmp_path / "dl.real" / ".data.bin.gspart").read_bytes() == data


async def test_a_finished_download_whose_pieces_state_cannot_be_deleted_is_complete_and_shared(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The audit made <data-dir>/partial read-only mid-download: the file was in place, yet [F] "disk error:
    # Permission denied (.../partial/<hash>.json)", a retry refused (409) and the node never seeded it. (Tests may
    # run as root, whom a mode does not stop: a directory at the state's name refuses the unlink instead.)
    mgr, state, _, data = _setup(tmp_path)
    target = tmp_path / "dl" / "data.bin"
    pieces = pieces_state_path(state.data_dir, KEY)
    real = file_ops.move_into_place

    def move_then_jam(temp: Path, final: Path, fd: int) -> None:
        real(temp, final, fd)
        pieces.unlink()
        pieces.mkdir()

    monkeypatch.setattr(store_module, "move_into_place", move_then_jam)
    rec = await _run(mgr, target)
    assert rec.state == DownloadState.COMPLETE.value and rec.reason == ""
    assert target.read_bytes() == data and not temp_path_for(target).exists()
    assert state.shares[KEY].path == str(target)  # a seeder of it from now on


async def test_the_first_resume_deletes_pieces_states_no_unfinished_download_owns(tmp_path: Path) -> None:
    mgr, state, meta, _ = _setup(tmp_path)
    running = ("alice", "lab", "running.bin")
    done = ("alice", "lab", "done.bin")
    for key, st in ((running, DownloadState.PAUSED), (done, DownloadState.COMPLETE)):
        await state.put_download(DownloadRecord(*key, str(tmp_path / "dl" / key[2]), st.value, meta))
        pieces_state_path(state.data_dir, key).write_text("{}")
    orphan = pieces_state_path(state.data_dir, ("bob", "lab", "removed.bin"))
    orphan.write_text("{}")
    half_written = orphan.with_name(orphan.name + ".tmp")
    half_written.write_text("{")
    folder = orphan.parent
    (folder / "notes.txt").write_text("mine")  # not a name the node writes: left alone

    mgr.resume_all("alice")
    await asyncio.wait_for(asyncio.gather(*mgr._tasks.values()), 30)
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        [pieces_state_path(state.data_dir, running).name, "notes.txt"])

    orphan.write_text("{}")  # once a run: a later login sweeps nothing (downloads may be running by then)
    mgr.resume_all("alice")
    assert orphan.exists()
    await mgr.stop_all()


def test_the_sweep_spares_links_and_folders_under_a_state_name(tmp_path: Path) -> None:
    folder = tmp_path / "partial"
    folder.mkdir()
    target = tmp_path / "elsewhere.json"
    target.write_text("{}")
    (folder / ("a" * 32 + ".json")).symlink_to(target)
    (folder / ("b" * 32 + ".json")).mkdir()
    assert sweep_pieces_states(tmp_path, []) == 0
    assert target.exists() and len(list(folder.iterdir())) == 2
