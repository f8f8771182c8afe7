"""The streamed whole-file hash: pieces in any order, held buffers handed back once, duplicates, resuming."""

from __future__ import annotations

import hashlib
import random
import threading
from pathlib import Path

from peer_node.swarm import PieceStore
from peer_node.swarm.buffers import BufferPool
from peer_node.swarm.prefix_hash import Added, PrefixHash
from tests.swarm.helpers import make_file, meta_of

PIECE = 16 * 1024


def pieces_of(count: int, seed: int = 1) -> list[bytes]:
    rng = random.Random(seed)
    return [rng.randbytes(100) for _ in range(count)]


def whole(pieces: list[bytes]) -> str:
    return hashlib.sha256(b"".join(pieces)).hexdigest()


def test_pieces_out_of_order_give_the_whole_file_hash() -> None:
    pieces = pieces_of(20)
    prefix = PrefixHash(20, (), lambda i: bytearray(pieces[i]))
    order = list(range(20))
    random.Random(7).shuffle(order)
    for i in order:
        assert prefix.digest() is None
        prefix.add(i, bytearray(pieces[i]))
    assert prefix.digest() == whole(pieces)


def test_held_pieces_are_hashed_from_memory_and_released_once() -> None:
    pieces = pieces_of(6)
    prefix = PrefixHash(6, (), lambda i: bytearray(pieces[i]))
    released: list[int] = []
    for i in (3, 1, 2):
        added = prefix.add(i, bytearray(pieces[i]), may_hold=True)
        assert added.held and not added.released
    released += prefix.add(0, bytearray(pieces[0]), may_hold=True).released
    assert released == [1, 2, 3] and prefix.held() == ()
    assert not prefix.add(5, bytearray(pieces[5])).held  # not allowed to hold: read back later
    assert prefix.add(4, bytearray(pieces[4]), may_hold=True).released == ()
    assert prefix.digest() == whole(pieces) and prefix.read_backs == 1


def test_with_on_hashed_each_held_piece_is_handed_back_as_soon_as_it_is_hashed() -> None:
    # Not at the end of the run: the downloader's links wait for those buffers (see the module doc).
    pieces = pieces_of(6)
    prefix = PrefixHash(6, (), lambda i: bytearray(pieces[i]))
    reported: list[tuple[int, tuple[int, ...]]] = []
    prefix.on_hashed = lambda i: reported.append((i, tuple(sorted(prefix.held()))))
    for i in (3, 1, 2):
        assert prefix.add(i, bytearray(pieces[i]), may_hold=True).held
    assert prefix.add(0, bytearray(pieces[0]), may_hold=True).released == ()  # reported one by one instead
    assert reported == [(1, (2, 3)), (2, (3,)), (3, ())]  # each while the later ones were still waiting
    assert not prefix.add(5, bytearray(pieces[5])).held
    prefix.add(4, bytearray(pieces[4]))
    assert prefix.digest() == whole(pieces) and len(reported) == 3  # 4 and 5 were never held: nothing to report


def test_no_more_pieces_are_held_than_the_caller_allows() -> None:
    pieces = pieces_of(6)
    prefix = PrefixHash(6, (), lambda i: bytearray(pieces[i]), max_held=2)
    assert [prefix.add(i, bytearray(pieces[i]), may_hold=True).held for i in (1, 2, 3, 4)] == [True, True, False,
                                                                                                  False]
    assert prefix.add(0, bytearray(pieces[0]), may_hold=True).released == (1, 2)
    assert prefix.add(5, bytearray(pieces[5]), may_hold=True).held is False  # the prefix took it from memory
    assert prefix.digest() == whole(pieces) and prefix.read_backs == 2  # 3 and 4, not held, came from the file


def test_a_piece_nearer_the_prefix_takes_the_place_of_the_farthest_held_one() -> None:
    # A slow peer's piece arriving late must find room: the hash needs it before the pieces far ahead.
    pieces = pieces_of(6)
    prefix = PrefixHash(6, (), lambda i: bytearray(pieces[i]), max_held=2)
    assert prefix.add(4, bytearray(pieces[4]), may_hold=True).held
    assert prefix.add(5, bytearray(pieces[5]), may_hold=True).held
    assert prefix.add(2, bytearray(pieces[2]), may_hold=True) == Added(True, (5,))  # 5 is read back later
    assert prefix.add(3, bytearray(pieces[3]), may_hold=True) == Added(True, (4,))
    assert prefix.add(1, bytearray(pieces[1]), may_hold=True) == Added(True, (3,))
    assert sorted(prefix.held()) == [1, 2]
    assert prefix.add(0, bytearray(pieces[0]), may_hold=True).released == (1, 2)
    assert prefix.digest() == whole(pieces) and prefix.read_backs == 3


def test_a_duplicate_piece_is_neither_hashed_twice_nor_held() -> None:
    pieces = pieces_of(3)
    prefix = PrefixHash(3, (), lambda i: bytearray(pieces[i]))
    prefix.add(0, bytearray(pieces[0]))
    assert prefix.add(0, bytearray(pieces[0]), may_hold=True).held is False
    prefix.add(2, bytearray(pieces[2]), may_hold=True)
    assert prefix.add(2, bytearray(pieces[2]), may_hold=True).held is False
    assert prefix.add(1, bytearray(pieces[1])).released == (2,)
    assert prefix.digest() == whole(pieces)


def test_dropped_held_pieces_are_read_back_instead() -> None:
    pieces = pieces_of(3)
    prefix = PrefixHash(3, (), lambda i: bytearray(pieces[i]))
    assert prefix.add(2, bytearray(pieces[2]), may_hold=True).held
    prefix.drop_held()  # the store closed: the engine's buffer is no longer the hash's to read
    assert prefix.held() == ()
    assert prefix.add(1, bytearray(pieces[1])).released == ()
    prefix.add(0, bytearray(pieces[0]))
    assert prefix.digest() == whole(pieces) and prefix.read_backs == 2


def test_pieces_already_written_at_start_are_read_back() -> None:
    pieces = pieces_of(5)
    prefix = PrefixHash(5, [0, 1, 3], lambda i: bytearray(pieces[i]))  # resumed: these are on disk
    assert prefix.add(4, bytearray(pieces[4]), may_hold=True).held
    assert prefix.add(2, bytearray(pieces[2])).released == (4,)
    assert prefix.digest() == whole(pieces) and prefix.read_backs == 3


def test_many_threads_adding_at_once_give_the_right_hash() -> None:
    pieces = pieces_of(400, seed=3)
    prefix = PrefixHash(400, (), lambda i: bytearray(pieces[i]))
    order = list(range(400))
    random.Random(5).shuffle(order)
    released: list[int] = []
    held: list[int] = []
    lock = threading.Lock()

    def work(part: list[int]) -> None:
        for i in part:
            added = prefix.add(i, bytearray(pieces[i]), may_hold=i % 2 == 0)
            with lock:
                released.extend(added.released)
                if added.held:
                    held.append(i)

    threads = [threading.Thread(target=work, args=(order[k::4],)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert prefix.digest() == whole(pieces)
    assert sorted(released) == sorted(held)  # every held buffer came back exactly once


async def test_a_download_resumed_mid_file_streams_the_right_whole_file_hash(tmp_path: Path) -> None:
    data = make_file(tmp_path / "src", 12 * PIECE + 5)
    meta = meta_of("src", data, PIECE)

    def piece(i: int) -> bytearray:
        return bytearray(data[i * PIECE:(i + 1) * PIECE])

    store = PieceStore.open_partial(tmp_path / "p", tmp_path / "s", meta)
    for i in (5, 0, 1, 9):
        assert store.write_piece(i, piece(i), may_hold=True).ok
        store.mark_verified(i)
    store.close()  # the node stops mid-file
    again = PieceStore.open_partial(tmp_path / "p", tmp_path / "s", meta)
    for i in (12, 3, 2, 4, 6, 11, 10, 8, 7):
        assert again.write_piece(i, piece(i), may_hold=True).ok
        again.mark_verified(i)
    assert again.streamed_sha256() == meta.sha256  # streamed to the end: finish needs no second pass
    assert (await again.finish(tmp_path / "out")).read_bytes() == data
    again.close()


async def test_pieces_from_aligned_buffers_are_written_directly_and_read_back_right(tmp_path: Path) -> None:
    data = make_file(tmp_path / "src", 4 * PIECE + 100)
    meta = meta_of("src", data, PIECE)
    store = PieceStore.open_partial(tmp_path / "p", tmp_path / "s", meta)
    pool = BufferPool(PIECE, 2)
    buf = pool.take()
    assert buf is not None
    for i in (1, 3, 0, 2, 4):  # the last piece is short, so unaligned: written through the page cache
        piece = data[i * PIECE:(i + 1) * PIECE]
        buf[:len(piece)] = piece
        assert store.write_piece(i, buf[:len(piece)]).ok  # pieces 1 and 3 are read back after a direct write
        store.mark_verified(i)
    if store.writes_direct:  # the filesystem under tmp_path allows O_DIRECT
        assert store.read_backs == 2
    assert store.streamed_sha256() == meta.sha256
    assert (await store.finish(tmp_path / "out")).read_bytes() == data
    store.close()
