"""PieceStore on real files: partial writes, resumable bitfield, whole-file check, never overwriting."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from peer_node.swarm import DownloadFailed, PieceStore, ServedFiles
from peer_node.swarm.store import full_bitfield
from tests.swarm.helpers import make_file, meta_of
from wire.errors import Conflict, NotFound

PIECE = 16 * 1024


def size_of(path: Path) -> int:
    return os.path.getsize(path)


def scribble(path: Path, offset: int) -> None:
    with open(path, "r+b") as f:
        f.seek(offset)
        f.write(b"x" * 10)


def fill(store: PieceStore, data: bytes, indices: range | list[int]) -> None:
    for i in indices:
        assert store.verify_and_write(i, bytearray(data[i * PIECE:(i + 1) * PIECE]))
        store.mark_verified(i)


async def test_partial_store_resumes_its_verified_pieces(tmp_path: Path) -> None:
    data = make_file(tmp_path / "src", 10 * PIECE + 7)
    meta = meta_of("src", data, PIECE)
    store = PieceStore.open_partial(tmp_path / "p", tmp_path / "s", meta)
    assert size_of(tmp_path / "p") == meta.size
    fill(store, data, [0, 3, 10])
    assert store.has(3) and not store.has(4)
    assert store.bitfield() == bytes([0b10010000, 0b00100000])
    assert store.mask == 1 << 0 | 1 << 3 | 1 << 10  # the same pieces for the engine's set tests
    store.close()
    again = PieceStore.open_partial(tmp_path / "p", tmp_path / "s", meta)
    assert [i for i in range(meta.piece_count) if again.has(i)] == [0, 3, 10]
    assert again.mask == 1 << 0 | 1 << 3 | 1 << 10  # loaded from the saved bitfield
    assert again.missing_count == 8 and again.bytes_verified == 2 * PIECE + 7
    again.close()


async def test_state_is_saved_soon_without_closing(tmp_path: Path) -> None:
    data = make_file(tmp_path / "src", 4 * PIECE)
    meta = meta_of("src", data, PIECE)
    store = PieceStore.open_partial(tmp_path / "p", tmp_path / "s", meta)
    fill(store, data, [1])
    await asyncio.sleep(0.4)  # past the debounce: a crash now keeps piece 1
    crashed_view = PieceStore.open_partial(tmp_path / "p", tmp_path / "s", meta)
    assert crashed_view.has(1)
    crashed_view.close()
    store.close()


def test_a_wrong_piece_is_not_written(tmp_path: Path) -> None:
    data = make_file(tmp_path / "src", 2 * PIECE)
    meta = meta_of("src", data, PIECE)
    store = PieceStore.open_partial(tmp_path / "p", tmp_path / "s", meta)
    assert not store.verify_and_write(0, bytearray(PIECE))
    assert (tmp_path / "p").read_bytes() == bytes(2 * PIECE)
    store.close()


def test_state_for_another_file_is_ignored(tmp_path: Path) -> None:
    data = make_file(tmp_path / "src", 2 * PIECE)
    meta = meta_of("src", data, PIECE)
    (tmp_path / "s").write_text('{"v": 1, "sha256": "00", "size": 1, "piece_size": 1, "bits": "gA=="}')
    store = PieceStore.open_partial(tmp_path / "p", tmp_path / "s", meta)
    assert store.missing_count == 2
    store.close()


async def test_finish_verifies_and_moves_into_place(tmp_path: Path) -> None:
    data = make_file(tmp_path / "src", 5 * PIECE + 1)
    meta = meta_of("src", data, PIECE)
    store = PieceStore.open_partial(tmp_path / "p", tmp_path / "s", meta)
    fill(store, data, range(meta.piece_count))
    final = await store.finish(tmp_path / "out")
    assert final.read_bytes() == data
    assert not (tmp_path / "p").exists() and not (tmp_path / "s").exists()
    assert store.is_complete and store.path == final
    store.close()


async def test_finish_never_overwrites_an_existing_file(tmp_path: Path) -> None:
    data = make_file(tmp_path / "src", 2 * PIECE)
    meta = meta_of("src", data, PIECE)
    store = PieceStore.open_partial(tmp_path / "p", tmp_path / "s", meta)
    fill(store, data, range(2))
    (tmp_path / "out").write_bytes(b"mine")
    with pytest.raises(Conflict):
        await store.finish(tmp_path / "out")
    assert (tmp_path / "out").read_bytes() == b"mine"
    store.close()


async def test_finish_with_a_bad_whole_file_hash_forgets_bad_pieces(tmp_path: Path) -> None:
    data = make_file(tmp_path / "src", 3 * PIECE)
    meta = meta_of("src", data, PIECE)
    store = PieceStore.open_partial(tmp_path / "p", tmp_path / "s", meta)
    fill(store, data, [0, 2])
    scribble(tmp_path / "p", 2 * PIECE)  # the disk lost piece 2 behind our back
    fill(store, data, [1])  # the streamed whole-file hash now reads piece 2 from disk
    with pytest.raises(DownloadFailed, match="whole-file"):
        await store.finish(tmp_path / "out")
    assert [store.has(i) for i in range(3)] == [True, True, False]
    assert store.mask == 0b011  # the forgotten piece leaves the mask too
    assert not (tmp_path / "out").exists()
    fill(store, data, [2])  # fetched again: the whole-file hash streams afresh and now matches
    assert (await store.finish(tmp_path / "out")).read_bytes() == data
    store.close()


def test_complete_store_claims_everything_and_checks_size(tmp_path: Path) -> None:
    data = make_file(tmp_path / "src", 9 * PIECE)
    meta = meta_of("src", data, PIECE)
    store = PieceStore.open_complete(tmp_path / "src", meta)
    assert store.is_complete and store.has(8) and store.bitfield() == bytes([0xFF, 0x80])
    assert store.mask == (1 << 9) - 1
    store.close()
    (tmp_path / "src").write_bytes(data[:-1])
    with pytest.raises(Conflict):
        PieceStore.open_complete(tmp_path / "src", meta)
    with pytest.raises(NotFound):
        PieceStore.open_complete(tmp_path / "gone", meta)


def test_full_bitfield_leaves_spare_bits_clear() -> None:
    assert full_bitfield(8) == b"\xff"
    assert full_bitfield(9) == b"\xff\x80"
    assert full_bitfield(0) == b""


def test_catalog_registers_and_reports_holdings(tmp_path: Path) -> None:
    data = make_file(tmp_path / "src", 2 * PIECE)
    meta = meta_of("src", data, PIECE)
    catalog = ServedFiles()
    store = PieceStore.open_complete(tmp_path / "src", meta)
    catalog.register(store)
    assert catalog.get(meta.sha256.upper()) is store
    assert catalog.holdings() == [(meta.sha256, None)]
    store.close()
    assert catalog.get(meta.sha256) is None  # a closed store is not served
    assert catalog.unregister(meta.sha256) is store and len(catalog) == 0


def test_discard_removes_temp_and_state(tmp_path: Path) -> None:
    data = make_file(tmp_path / "src", 2 * PIECE)
    meta = meta_of("src", data, PIECE)
    store = PieceStore.open_partial(tmp_path / "p", tmp_path / "s", meta)
    store.discard()
    assert not (tmp_path / "p").exists() and not (tmp_path / "s").exists()
