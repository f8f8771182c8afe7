"""PieceStore on real files: verified writes, resumable bitfield, finishing, never overwriting."""

from __future__ import annotations

import asyncio
import ctypes
import mmap
import os
from dataclasses import replace
from pathlib import Path

import pytest

from peer_node.swarm import DownloadFailed, PieceStore, ServedFiles
from peer_node.swarm import store as store_module
from peer_node.swarm.buffers import BufferPool
from peer_node.swarm.direct_io import address_of
from peer_node.swarm.state_file import StateFile
from peer_node.swarm.store import full_bitfield
from tests.swarm.helpers import make_file, meta_of, poll_until, size_of
from wire.errors import Conflict, NotFound
from wire.records import FileMeta

PIECE = 16 * 1024


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


@pytest.mark.parametrize("change", ["deleted", "truncated"])
async def test_saved_pieces_of_a_partial_file_gone_or_resized_are_not_trusted(tmp_path: Path, change: str) -> None:
    data = make_file(tmp_path / "src", 10 * PIECE)
    meta = meta_of("src", data, PIECE)
    store = PieceStore.open_partial(tmp_path / "p", tmp_path / "s", meta)
    fill(store, data, [0, 3])
    store.close()
    if change == "deleted":
        (tmp_path / "p").unlink()
    else:
        os.truncate(tmp_path / "p", 2 * PIECE)
    again = PieceStore.open_partial(tmp_path / "p", tmp_path / "s", meta)
    assert again.verified_count == 0 and again.missing_count == meta.piece_count
    assert size_of(tmp_path / "p") == meta.size
    fill(again, data, range(meta.piece_count))
    again.close()
    assert (tmp_path / "p").read_bytes() == data


def flip_byte(path: Path, offset: int, *, keep_mtime: bool = False) -> None:
    st = path.stat()
    with open(path, "r+b") as f:
        f.seek(offset)
        byte = f.read(1)
        f.seek(offset)
        f.write(bytes([byte[0] ^ 0xFF]))
    if keep_mtime:
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    else:  # a new mtime even on a clock coarser than the edit's speed
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))


async def test_a_partial_file_edited_in_place_since_a_clean_stop_is_checked_and_the_edited_piece_fetched_again(
        tmp_path: Path) -> None:
    data = make_file(tmp_path / "src", 10 * PIECE)
    meta = meta_of("src", data, PIECE)
    store = PieceStore.open_partial(tmp_path / "p", tmp_path / "s", meta)
    fill(store, data, [0, 3, 7])
    store.close()
    flip_byte(tmp_path / "p", 3 * PIECE + 100)  # same size: only the seal (inode and mtime) tells
    again = PieceStore.open_partial(tmp_path / "p", tmp_path / "s", meta)
    assert [i for i in range(meta.piece_count) if again.has(i)] == [0, 7]
    fill(again, data, [i for i in range(meta.piece_count) if not again.has(i)])
    again.close()
    assert (tmp_path / "p").read_bytes() == data  # not [C] with the edited byte in it


async def test_a_clean_stop_s_pieces_are_trusted_without_reading_them(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    data = make_file(tmp_path / "src", 10 * PIECE)
    meta = meta_of("src", data, PIECE)
    store = PieceStore.open_partial(tmp_path / "p", tmp_path / "s", meta)
    fill(store, data, [0, 3, 7])
    store.close()

    def no_reading(*_: object) -> bytearray:
        raise AssertionError("a clean stop's pieces were read again")

    monkeypatch.setattr(store_module, "_pieces_still_there", no_reading)
    again = PieceStore.open_partial(tmp_path / "p", tmp_path / "s", meta)
    assert [i for i in range(meta.piece_count) if again.has(i)] == [0, 3, 7]
    again.close()


async def test_an_edit_that_puts_the_mtime_back_is_still_seen_by_its_ctime(tmp_path: Path) -> None:
    data = make_file(tmp_path / "src", 10 * PIECE)
    meta = meta_of("src", data, PIECE)
    store = PieceStore.open_partial(tmp_path / "p", tmp_path / "s", meta)
    fill(store, data, [0, 3, 7])
    store.close()
    await asyncio.sleep(0.05)  # the kernel stamps times from a coarse clock: an edit a tick after the last write
    flip_byte(tmp_path / "p", 3 * PIECE + 100, keep_mtime=True)  # inode, size and mtime as sealed
    again = PieceStore.open_partial(tmp_path / "p", tmp_path / "s", meta)
    assert [i for i in range(meta.piece_count) if again.has(i)] == [0, 7]  # piece 3 fetched again, not [C] with it
    again.close()


async def saved_with(path: Path, meta: FileMeta, pieces: list[int]) -> None:
    """Wait (bounded) until the state file on disk holds exactly ``pieces``: the debounced save has run."""

    def holds() -> bool:
        bits = StateFile(path, meta).load()
        return bits is not None and [i for i in range(meta.piece_count) if bits[i // 8] >> (7 - i % 8) & 1] == pieces

    await asyncio.wait_for(poll_until(holds), 30)

async def test_after_a_kill_every_saved_piece_is_checked_again(tmp_path: Path) -> None:
    data = make_file(tmp_path / "src", 10 * PIECE + 5)
    meta = meta_of("src", data, PIECE)
    store = PieceStore.open_partial(tmp_path / "p", tmp_path / "s", meta)
    fill(store, data, [1, 2, 10])
    await saved_with(tmp_path / "s", meta, [1, 2, 10])  # the periodic save: unsealed, as a killed node leaves it
    killed_state = (tmp_path / "s").read_bytes()
    store.close()
    (tmp_path / "s").write_bytes(killed_state)
    flip_byte(tmp_path / "p", 10 * PIECE + 2, keep_mtime=True)  # unseen by a stat, seen by the hash
    again = PieceStore.open_partial(tmp_path / "p", tmp_path / "s", meta)
    assert [i for i in range(meta.piece_count) if again.has(i)] == [1, 2]
    again.close()


async def test_state_is_saved_soon_without_closing(tmp_path: Path) -> None:
    data = make_file(tmp_path / "src", 4 * PIECE)
    meta = meta_of("src", data, PIECE)
    store = PieceStore.open_partial(tmp_path / "p", tmp_path / "s", meta)
    fill(store, data, [1])
    await saved_with(tmp_path / "s", meta, [1])  # saved without a close (debounced): a crash now keeps piece 1
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


async def test_finish_refuses_while_pieces_are_missing(tmp_path: Path) -> None:
    data = make_file(tmp_path / "src", 3 * PIECE)
    meta = meta_of("src", data, PIECE)
    store = PieceStore.open_partial(tmp_path / "p", tmp_path / "s", meta)
    fill(store, data, [0, 2])
    with pytest.raises(DownloadFailed, match="1 pieces still missing"):
        await store.finish(tmp_path / "out")
    assert not (tmp_path / "out").exists() and (tmp_path / "p").exists()
    store.close()


async def test_an_empty_file_is_checked_against_its_listed_digest(tmp_path: Path) -> None:
    # No piece, so no chain vouches for it: finish compares the listed digest with that of no bytes.
    meta = meta_of("empty", b"", PIECE)
    wrong = replace(meta, sha256="00" * 32)
    store = PieceStore.open_partial(tmp_path / "p", tmp_path / "s", wrong)
    with pytest.raises(DownloadFailed, match="whole-file"):
        await store.finish(tmp_path / "out")
    assert not (tmp_path / "out").exists()
    store.close()
    store = PieceStore.open_partial(tmp_path / "p2", tmp_path / "s2", meta)
    assert (await store.finish(tmp_path / "out")).read_bytes() == b""
    store.close()


async def test_a_listing_whose_chain_ends_elsewhere_never_finishes(tmp_path: Path) -> None:
    # Every piece checks against the chain, but the chain does not end at the listed sha256 (a tracker refuses
    # such a listing; a FileMeta built by hand is not checked): the file would not have the listed digest.
    data = make_file(tmp_path / "src", 2 * PIECE + 7)
    meta = meta_of("src", data, PIECE)
    store = PieceStore.open_partial(tmp_path / "p", tmp_path / "s", replace(meta, sha256="00" * 32))
    fill(store, data, [0, 1, 2])
    with pytest.raises(DownloadFailed, match="whole-file"):
        await store.finish(tmp_path / "out")
    assert not (tmp_path / "out").exists()
    store.close()


async def test_a_download_resumed_mid_file_finishes_with_the_right_file(tmp_path: Path) -> None:
    data = make_file(tmp_path / "src", 12 * PIECE + 5)
    meta = meta_of("src", data, PIECE)
    store = PieceStore.open_partial(tmp_path / "p", tmp_path / "s", meta)
    fill(store, data, [5, 0, 1, 9])
    store.close()  # the node stops mid-file
    again = PieceStore.open_partial(tmp_path / "p", tmp_path / "s", meta)
    assert again.mask == 1 << 0 | 1 << 1 | 1 << 5 | 1 << 9
    fill(again, data, [12, 3, 2, 4, 6, 11, 10, 8, 7])  # each piece checks alone, in any order
    assert (await again.finish(tmp_path / "out")).read_bytes() == data
    again.close()


async def test_pieces_from_aligned_buffers_are_written_directly_and_read_right(tmp_path: Path) -> None:
    data = make_file(tmp_path / "src", 4 * PIECE + 100)
    meta = meta_of("src", data, PIECE)
    store = PieceStore.open_partial(tmp_path / "p", tmp_path / "s", meta)
    buf = BufferPool(PIECE, 1).take()  # page-aligned, as O_DIRECT wants
    assert buf is not None
    for i in (1, 3, 0, 2, 4):  # the last piece is short, so unaligned: written through the page cache
        piece = data[i * PIECE:(i + 1) * PIECE]
        buf[:len(piece)] = piece
        assert store.verify_and_write(i, buf[:len(piece)])
        store.mark_verified(i)
    back = BufferPool(PIECE, 1).take()
    assert back is not None and store.read_block(back, PIECE) == PIECE and back == data[PIECE:2 * PIECE]
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


async def test_a_shared_file_is_read_from_the_page_cache_on_the_spot_a_download_is_not(tmp_path: Path) -> None:
    data = make_file(tmp_path / "src", 4 * PIECE + 100)  # just written: in the page cache
    meta = meta_of("src", data, PIECE)
    shared = PieceStore.open_complete(tmp_path / "src", meta)
    view = memoryview(bytearray(PIECE))
    got = shared.read_cached(view, PIECE)
    # Linux copies the cached pages without waiting; without RWF_NOWAIT nothing is copied here, and the server
    # reads it all in a thread, as read_block
    assert got == (PIECE if os_has_nowait() else 0)
    assert view[:got] == data[PIECE:PIECE + got]
    assert shared.read_cached(memoryview(bytearray(PIECE)), 4 * PIECE) == (100 if os_has_nowait() else 0)  # end
    shared.close()
    download = PieceStore.open_partial(tmp_path / "p", tmp_path / "s", meta)
    fill(download, data, [1])
    if download.writes_direct:  # a download's file is read past the cache, in a thread, never on the loop
        assert download.read_cached(memoryview(bytearray(PIECE)), PIECE) == 0
    download.close()


def os_has_nowait() -> bool:
    return bool(getattr(os, "RWF_NOWAIT", 0))


def aligned_piece(data: bytes, index: int) -> memoryview:
    """Piece ``index`` in page-aligned memory (an mmap), as the engine's buffers are: what a direct write takes."""
    buf = memoryview(mmap.mmap(-1, PIECE))
    buf[:] = data[index * PIECE:(index + 1) * PIECE]
    return buf


_libc = ctypes.CDLL(None, use_errno=True)


def in_page_cache(path: Path, index: int) -> int:
    """Bytes of piece ``index`` the page cache holds, asked with ``mincore`` on a mapping of the file that is never
    touched: a read, even one that must not wait (``RWF_NOWAIT``), starts the kernel's readahead of what follows."""
    with path.open("rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_COPY) as mapped:
        pages = (ctypes.c_ubyte * (PIECE // mmap.PAGESIZE))()
        if _libc.mincore(ctypes.c_void_p(address_of(mapped) + index * PIECE), PIECE, pages) != 0:
            raise OSError(ctypes.get_errno(), "mincore")
        return sum(page & 1 for page in pages) * mmap.PAGESIZE


async def test_a_download_writes_past_the_page_cache_also_while_peers_fetch_from_it(tmp_path: Path) -> None:
    data = make_file(tmp_path / "src", 2 * PIECE)
    meta = meta_of("src", data, PIECE)
    download = PieceStore.open_partial(tmp_path / "p", tmp_path / "s", meta)
    if not download.writes_direct or not os_has_nowait():
        pytest.fail("this test needs a filesystem with O_DIRECT and a kernel with RWF_NOWAIT (the CI's has both)")

    def listener(index: int) -> None:
        pass

    assert download.verify_and_write(0, aligned_piece(data, 0))  # nobody fetches
    download.add_listener(listener)  # a peer connected to fetch from it (the piece server's HAVE listener)
    assert download.watched
    assert download.verify_and_write(1, aligned_piece(data, 1))
    # (tmpfs takes O_DIRECT but keeps everything in memory: the CI's /tmp is on a disk)
    for index in (0, 1):  # a fresh cache page costs more than the disk read a peer's request may cause
        assert in_page_cache(tmp_path / "p", index) == 0
    for index in (0, 1):
        download.mark_verified(index)
        assert download.read_cached(memoryview(bytearray(PIECE)), index * PIECE) == 0  # not even asked
        view = memoryview(bytearray(PIECE))
        assert download.read_block(view, index * PIECE) == PIECE and view == data[index * PIECE:(index + 1) * PIECE]
    download.remove_listener(listener)
    download.close()
    assert (tmp_path / "p").read_bytes() == data
