"""A download's disk space is reserved when it opens: on a disk the file gets all its blocks at once (and still
reads as zeros, and a resumed download keeps its pieces); a disk that cannot hold it fails the open at once and
leaves no file behind; a filesystem that cannot reserve leaves the file sparse."""

from __future__ import annotations

import ctypes
import errno
import os
from pathlib import Path

import pytest

from peer_node.swarm import PieceStore, space
from tests.swarm.helpers import allocated, make_file, meta_of, size_of

PIECE = 64 * 1024


async def test_a_new_download_has_its_blocks_at_once_on_a_disk_and_stays_sparse_elsewhere(tmp_path: Path) -> None:
    data = make_file(tmp_path / "src", 40 * PIECE + 123)
    meta = meta_of("src", data, PIECE)
    store = PieceStore.open_partial(tmp_path / "p", tmp_path / "s", meta)
    fd = os.open(tmp_path / "p", os.O_RDONLY)
    try:
        on_disk = space.on_block_device(fd)
    finally:
        os.close(fd)
    assert size_of(tmp_path / "p") == meta.size
    if on_disk:  # ext4 here and in CI: every block is there before any piece
        assert allocated(tmp_path / "p") >= meta.size
    else:  # tmpfs: a reservation would be memory held from the start
        assert allocated(tmp_path / "p") == 0
    assert (tmp_path / "p").read_bytes() == bytes(meta.size)  # reserved blocks read as zeros
    assert store.verify_and_write(3, bytearray(data[3 * PIECE:4 * PIECE]))
    store.mark_verified(3)
    store.close()
    again = PieceStore.open_partial(tmp_path / "p", tmp_path / "s", meta)  # resumed: reserving again keeps it
    assert again.has(3)
    assert (tmp_path / "p").read_bytes()[3 * PIECE:4 * PIECE] == data[3 * PIECE:4 * PIECE]
    again.close()


def fake_fallocate(code: int, calls: list[tuple[int, int, int, int]]) -> space._Fallocate:
    def fallocate(fd: int, mode: int, offset: int, length: int) -> int:
        calls.append((fd, mode, offset, length))
        ctypes.set_errno(code)
        return -1
    return fallocate


def fake_disk(monkeypatch: pytest.MonkeyPatch, code: int) -> list[tuple[int, int, int, int]]:
    """A block device whose every fallocate fails with ``code``; the calls it got."""
    calls: list[tuple[int, int, int, int]] = []
    monkeypatch.setattr(space, "_fallocate", fake_fallocate(code, calls))
    monkeypatch.setattr(space, "on_block_device", lambda fd: True)
    return calls


def test_a_download_the_disk_cannot_hold_fails_at_open_and_leaves_no_file(tmp_path: Path,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    data = make_file(tmp_path / "src", 8 * PIECE)
    meta = meta_of("src", data, PIECE)
    calls = fake_disk(monkeypatch, errno.ENOSPC)
    with pytest.raises(OSError) as caught:
        PieceStore.open_partial(tmp_path / "p", tmp_path / "s", meta)
    assert caught.value.errno == errno.ENOSPC
    assert f"needs {meta.size:,} bytes" in str(caught.value)  # what the download's failure reason shows
    assert calls and calls[0][1:] == (0, 0, meta.size)  # the whole file, mode 0: blocks kept, size unchanged
    assert not (tmp_path / "p").exists() and not (tmp_path / "s").exists()


def test_a_filesystem_that_cannot_reserve_leaves_a_sparse_file_that_works(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    data = make_file(tmp_path / "src", 8 * PIECE)
    meta = meta_of("src", data, PIECE)
    calls = fake_disk(monkeypatch, errno.EOPNOTSUPP)
    store = PieceStore.open_partial(tmp_path / "p", tmp_path / "s", meta)
    assert calls
    assert allocated(tmp_path / "p") == 0
    assert store.verify_and_write(1, bytearray(data[PIECE:2 * PIECE]))
    store.close()
    assert (tmp_path / "p").read_bytes()[PIECE:2 * PIECE] == data[PIECE:2 * PIECE]


def test_other_errors_are_not_taken_for_a_missing_feature(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    calls = fake_disk(monkeypatch, errno.EIO)
    fd = os.open(tmp_path / "f", os.O_RDWR | os.O_CREAT)
    try:
        with pytest.raises(OSError) as caught:
            space.reserve(fd, 4096)
        assert caught.value.errno == errno.EIO
        assert space.reserve(fd, 0) is False and len(calls) == 1  # nothing to reserve: not even asked
    finally:
        os.close(fd)
