"""copy_from_local: a download filled from a complete copy of the same file on this node, each piece verified as
if a peer had sent it (an edited local copy gives only its unchanged pieces), and stoppable between pieces."""

from __future__ import annotations

import asyncio
from pathlib import Path

from peer_node.swarm import PieceStore
from peer_node.swarm.local_copy import copy_from_local
from tests.swarm.helpers import file_sha256, make_file, meta_of

PIECE = 16 * 1024


def _stores(tmp_path: Path, size: int) -> tuple[bytes, PieceStore, PieceStore]:
    data = make_file(tmp_path / "shared.bin", size)
    meta = meta_of("shared.bin", data, PIECE)
    source = PieceStore.open_complete(tmp_path / "shared.bin", meta)
    target = PieceStore.open_partial(tmp_path / "part", tmp_path / "state", meta)
    return data, source, target


async def test_every_piece_is_copied_and_the_file_verifies_as_a_whole(tmp_path: Path) -> None:
    data, source, target = _stores(tmp_path, 9 * PIECE + 123)
    seen: list[int] = []
    assert await copy_from_local(source, target, seen.append) == 10
    assert seen == list(range(10))
    assert target.missing_count == 0 and target.bytes_verified == len(data)
    final = await target.finish(tmp_path / "copy.bin")
    assert final.read_bytes() == data
    assert file_sha256(final) == target.meta.sha256
    source.close()
    target.close()


async def test_pieces_the_download_has_are_left_alone(tmp_path: Path) -> None:
    data, source, target = _stores(tmp_path, 6 * PIECE)
    for i in (0, 4):
        assert target.verify_and_write(i, bytearray(data[i * PIECE:(i + 1) * PIECE]))
        target.mark_verified(i)
    seen: list[int] = []
    assert await copy_from_local(source, target, seen.append) == 4
    assert seen == [1, 2, 3, 5]
    assert target.missing_count == 0
    source.close()
    target.close()


async def test_a_local_copy_edited_since_it_was_shared_gives_only_its_unchanged_pieces(tmp_path: Path) -> None:
    data, source, target = _stores(tmp_path, 5 * PIECE)
    edited = bytearray(data)  # same size, one byte of piece 2 changed
    edited[2 * PIECE + 7] ^= 1
    (tmp_path / "shared.bin").write_bytes(edited)
    seen: list[int] = []
    assert await copy_from_local(source, target, seen.append) == 4
    assert seen == [0, 1, 3, 4]
    assert not target.has(2) and target.missing_count == 1  # left for the engine to fetch from a peer
    assert (tmp_path / "part").read_bytes()[2 * PIECE:3 * PIECE] == bytes(PIECE)  # nothing written for it
    source.close()
    target.close()


async def test_a_closed_source_or_another_file_gives_nothing(tmp_path: Path) -> None:
    _, source, target = _stores(tmp_path, 3 * PIECE)
    other_data = make_file(tmp_path / "other.bin", 3 * PIECE, seed=7)
    other = PieceStore.open_complete(tmp_path / "other.bin", meta_of("other.bin", other_data, PIECE))
    assert await copy_from_local(other, target, lambda i: None) == 0  # same size, other bytes: not a copy
    assert await copy_from_local(target, target, lambda i: None) == 0  # a partial store is no source
    source.close()
    assert await copy_from_local(source, target, lambda i: None) == 0  # the share stopped
    assert target.missing_count == 3
    other.close()
    target.close()


async def test_cancelling_stops_the_copy_between_two_pieces(tmp_path: Path) -> None:
    _, source, target = _stores(tmp_path, 8 * PIECE)
    task: asyncio.Task[int] | None = None

    def first_piece(index: int) -> None:
        assert task is not None
        task.cancel()  # delivered at the copy's next wait, while the thread copies the second piece

    task = asyncio.create_task(copy_from_local(source, target, first_piece))
    try:
        await task
        raise AssertionError("the copy ran to the end")
    except asyncio.CancelledError:
        pass
    assert target.verified_count == 1
    target.discard()  # the download is removed (the second piece's thread keeps the descriptor until it is done)
    source.close()
    assert not (tmp_path / "part").exists()
