"""How a download ends when what it needs goes away under it: a partial file deleted or cut short by another
program starts afresh rather than finishing with holes, a disk that refuses a write is a disk error, not a
missing seeder, and a file taken off the group's list ends the wait for a seeder at once."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from bench.ports import free_port
from peer_node.swarm import DownloadEngine, DownloadFailed, PieceStore, SwarmSnapshot, partial_watch
from peer_node.swarm.errors import PartialFileGone
from peer_node.swarm.file_ops import FolderChanged
from tests.swarm.helpers import make_file, meta_of, start_seeder, static_source, token_for
from tests.swarm.test_download import FAST
from wire.errors import NotFound
from wire.records import SeederInfo

PIECE = 16 * 1024


@pytest.mark.parametrize(("change", "said"), [
    ("truncate", "was cut short during the download (by another program?), so the pieces in it cannot be trusted"),
    ("unlink", "was deleted during the download (or its folder was)"),
])
async def test_a_partial_file_cut_short_or_deleted_while_downloading_never_finishes(
        tmp_path: Path, change: str, said: str) -> None:
    data = make_file(tmp_path / "src.bin", 64 * PIECE)
    meta = meta_of("src.bin", data, PIECE)
    seeder = await start_seeder("seed", [PieceStore.open_complete(tmp_path / "src.bin", meta)])
    partial = tmp_path / "dl.part"
    store = PieceStore.open_partial(partial, tmp_path / "dl.state", meta)

    def on_piece(index: int) -> None:
        # Once the last piece is in, no later write can bring the file back to its full size.
        if index == meta.piece_count - 1:
            os.truncate(partial, PIECE) if change == "truncate" else os.unlink(partial)

    try:
        engine = DownloadEngine(meta, store, static_source(token_for(meta.sha256), [seeder.info()]),
                                on_piece=on_piece, config=FAST)
        with pytest.raises(PartialFileGone) as gone:
            await engine.run()
        assert gone.value.message == f"the partial file {partial} {said}; download it again to start afresh"
    finally:
        store.close()
        await seeder.close()


async def test_a_folder_renamed_while_downloading_fails_it_within_seconds_saying_where_the_data_is(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # It went on filling the moved file to the end, and only failed as it gave the file its final name.
    monkeypatch.setattr(partial_watch, "PATH_LOOK_S", 0.2)
    data = make_file(tmp_path / "src.bin", 64 * PIECE)
    meta = meta_of("src.bin", data, PIECE)
    seeder = await start_seeder("seed", [PieceStore.open_complete(tmp_path / "src.bin", meta)],
                                upload_limit=100_000)  # about 10 s for the file
    (tmp_path / "dl").mkdir()
    store = PieceStore.open_partial(tmp_path / "dl" / "dl.part", tmp_path / "dl.state", meta)
    pieces: list[int] = []

    def on_piece(index: int) -> None:
        pieces.append(index)
        if len(pieces) == 2:
            os.rename(tmp_path / "dl", tmp_path / "moved")  # the user tidies their folders mid-download

    try:
        engine = DownloadEngine(meta, store, static_source(token_for(meta.sha256), [seeder.info()]),
                                on_piece=on_piece, config=FAST)
        with pytest.raises(FolderChanged) as moved:
            await engine.run()
        assert moved.value.message == (
            f"the folder {tmp_path / 'dl'} was moved or deleted while the file downloaded, so its verified pieces "
            f"are not where the download can find them; the verified data is now at {tmp_path / 'moved' / 'dl.part'}"
            "; download it again to start afresh")
        assert len(pieces) < meta.piece_count  # not fetched to the end first
    finally:
        store.close()
        await seeder.close()


async def test_the_partial_files_path_is_looked_up_only_every_few_seconds(tmp_path: Path) -> None:
    meta = meta_of("src.bin", make_file(tmp_path / "src.bin", 4 * PIECE), PIECE)
    (tmp_path / "dl").mkdir()
    store = PieceStore.open_partial(tmp_path / "dl" / "dl.part", tmp_path / "dl.state", meta)
    try:
        watch = partial_watch.PartialWatch(store, path_every=5.0)
        assert watch.trouble(100.0) is None  # looked: in place
        os.rename(tmp_path / "dl", tmp_path / "moved")
        assert watch.trouble(104.9) is None  # an fstat alone: nothing to see in it
        assert isinstance(watch.trouble(105.0), FolderChanged)
        os.rename(tmp_path / "moved", tmp_path / "dl")  # back before the next look: nothing to say
        assert watch.trouble(110.0) is None
    finally:
        store.close()


async def test_a_disk_that_refuses_a_write_fails_the_download_as_a_disk_error(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = make_file(tmp_path / "src.bin", 8 * PIECE)
    meta = meta_of("src.bin", data, PIECE)
    seeder = await start_seeder("seed", [PieceStore.open_complete(tmp_path / "src.bin", meta)])
    store = PieceStore.open_partial(tmp_path / "dl.part", tmp_path / "dl.state", meta)

    def full(index: int, piece: object) -> bool:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(store, "verify_and_write", full)
    try:
        engine = DownloadEngine(meta, store, static_source(token_for(meta.sha256), [seeder.info()]), config=FAST)
        with pytest.raises(OSError) as refused:
            await engine.run()
        assert refused.value.errno == errno.ENOSPC
        assert not isinstance(refused.value, DownloadFailed)  # no "waiting for a seeder": Retry once there is room
    finally:
        store.close()
        await seeder.close()


async def test_a_file_taken_off_the_groups_list_fails_at_once_with_that_reason(tmp_path: Path) -> None:
    data = make_file(tmp_path / "src.bin", 8 * PIECE)
    meta = meta_of("src.bin", data, PIECE)
    store = PieceStore.open_partial(tmp_path / "dl.part", tmp_path / "dl.state", meta)
    answers = 0

    async def tracker() -> SwarmSnapshot:  # lists a sharer whose node is gone, then the file no more
        nonlocal answers
        answers += 1
        if answers > 1:
            raise NotFound("no file named src.bin in g1")
        return SwarmSnapshot(token_for(meta.sha256), [SeederInfo("alice", "127.0.0.1", free_port(), "", None)])

    try:
        engine = DownloadEngine(meta, store, tracker, config=FAST)
        with pytest.raises(DownloadFailed) as failed:
            await engine.run()
        # Not "no seeder reachable" once the wait for one ran out: nobody is going to offer the rest.
        assert failed.value.reason == "nobody shares src.bin now (it is no longer on the group's list; alice: " \
                                      "their node is not running (connection refused))"
    finally:
        store.close()
