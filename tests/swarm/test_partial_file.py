"""What another program (or the disk) does to a download's partial file while it runs: a deletion or a cut ends
the download afresh rather than finishing a file with holes, and a disk that refuses a write is a disk error,
not a missing seeder."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from peer_node.swarm import DownloadEngine, DownloadFailed, PieceStore
from peer_node.swarm.errors import PartialFileGone
from tests.swarm.helpers import make_file, meta_of, start_seeder, static_source, token_for
from tests.swarm.test_download import FAST

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
