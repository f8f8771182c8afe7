"""``PieceStore.finish`` puts in place the very file the download wrote, or nothing: a folder moved, deleted or
swapped for a link while the download ran fails it with a reason that says so, and deletes nothing it did not make;
and once the file is in place, a pieces state that cannot be deleted no longer turns the download into a failure."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from peer_node.swarm import PieceStore
from peer_node.swarm.file_ops import FolderChanged
from tests.swarm.helpers import make_file, meta_of

PIECE = 16 * 1024


def _downloaded(tmp_path: Path) -> tuple[PieceStore, bytes, Path]:
    """A partial store in ``tmp_path/dl`` with every piece verified, ready to finish; and the state file."""
    data = make_file(tmp_path / "src", 5 * PIECE + 3)
    meta = meta_of("f.bin", data, PIECE)
    (tmp_path / "dl").mkdir()
    state = tmp_path / "state.json"
    store = PieceStore.open_partial(tmp_path / "dl" / ".f.bin.gspart", state, meta)
    for i in range(meta.piece_count):
        assert store.verify_and_write(i, bytearray(data[i * PIECE:(i + 1) * PIECE]))
        store.mark_verified(i)
    return store, data, state


async def test_a_folder_swapped_for_a_link_to_a_planted_partial_file_puts_nothing_in_place(tmp_path: Path) -> None:
    # The audit's case: the folder renamed away, a link to another folder in its place, holding a 4000-byte file
    # at the partial file's name. The old finish linked that file by path and showed it as the download, [C].
    store, data, _ = _downloaded(tmp_path)
    outside = tmp_path / "outside"
    outside.mkdir()
    planted = outside / ".f.bin.gspart"
    planted.write_bytes(b"EVIL" * 1000)
    os.rename(tmp_path / "dl", tmp_path / "dl.real")
    os.symlink(outside, tmp_path / "dl")

    with pytest.raises(FolderChanged, match="not the one this download wrote") as failed:
        await store.finish(tmp_path / "dl" / "f.bin")
    assert str(tmp_path / "dl.real" / ".f.bin.gspart") in failed.value.message  # where the user's data went
    assert sorted(os.listdir(outside)) == [".f.bin.gspart"]  # no f.bin made from the planted file
    assert not store.is_complete

    store.discard()  # what a failed download that starts afresh does: only what it made goes
    assert planted.read_bytes() == b"EVIL" * 1000
    assert (tmp_path / "dl.real" / ".f.bin.gspart").read_bytes() == data  # never deleted through the new name


async def test_a_folder_moved_away_fails_saying_so_and_where_the_data_is(tmp_path: Path) -> None:
    # Used to say "No such file or directory ...; the verified pieces are kept: Retry resumes from them", false:
    # a retry to that path finds no pieces there.
    store, data, _ = _downloaded(tmp_path)
    os.rename(tmp_path / "dl", tmp_path / "moved")

    with pytest.raises(FolderChanged) as failed:
        await store.finish(tmp_path / "dl" / "f.bin")
    reason = failed.value.message
    assert "was moved or deleted" in reason and "not where the download can find them" in reason
    assert str(tmp_path / "moved" / ".f.bin.gspart") in reason and "Retry resumes" not in reason
    assert not (tmp_path / "dl").exists()  # no folder or file made at the old place
    store.discard()
    assert (tmp_path / "moved" / ".f.bin.gspart").read_bytes() == data


async def test_a_folder_made_anew_in_place_of_the_moved_one_gets_nothing(tmp_path: Path) -> None:
    store, _, _ = _downloaded(tmp_path)
    os.rename(tmp_path / "dl", tmp_path / "moved")
    (tmp_path / "dl").mkdir()

    with pytest.raises(FolderChanged, match="moved or deleted"):
        await store.finish(tmp_path / "dl" / "f.bin")
    assert os.listdir(tmp_path / "dl") == []
    store.close()


async def test_the_final_file_is_the_inode_the_download_wrote(tmp_path: Path) -> None:
    store, data, state = _downloaded(tmp_path)
    written = os.stat(tmp_path / "dl" / ".f.bin.gspart").st_ino
    final = await store.finish(tmp_path / "dl" / "f.bin")
    assert final.stat().st_ino == written and final.read_bytes() == data
    assert os.listdir(tmp_path / "dl") == ["f.bin"] and not state.exists()
    store.close()


async def test_a_pieces_state_that_cannot_be_deleted_does_not_fail_a_finished_download(tmp_path: Path) -> None:
    # As a data dir made read-only mid-download does (chmod 500 <data-dir>/partial; this test may run as root, so
    # a directory stands at the state's name instead: unlink refuses it all the same). The file was in place, yet
    # the download showed [F] and its store stayed partial.
    store, data, state = _downloaded(tmp_path)
    state.unlink()
    state.mkdir()

    final = await store.finish(tmp_path / "dl" / "f.bin")
    assert final == tmp_path / "dl" / "f.bin" and final.read_bytes() == data
    assert store.is_complete and store.path == final and store.missing_count == 0
    store.close()  # a complete store saves no state on close
    assert state.is_dir() and os.listdir(state) == []


async def test_a_final_name_the_folder_refuses_is_named_by_its_whole_path(tmp_path: Path) -> None:
    # The steps run relative to the opened folder, whose errors name only the file ("disk error: ... (f.bin)"),
    # and a link from /proc/self/fd names the descriptor: the [F] reason must say which folder to fix. (A name
    # too long stands in for a read-only folder: tests may run as root, whom modes do not stop.)
    store, data, _ = _downloaded(tmp_path)
    final = tmp_path / "dl" / ("x" * 300)
    with pytest.raises(OSError) as failed:
        await store.finish(final)
    assert failed.value.errno == errno.ENAMETOOLONG and failed.value.filename == str(final)
    assert os.listdir(tmp_path / "dl") == [".f.bin.gspart"] and not store.is_complete
    assert (tmp_path / "dl" / ".f.bin.gspart").read_bytes() == data
    store.close()
