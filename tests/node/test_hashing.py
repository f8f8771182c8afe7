"""Share-time hashing: the whole file's SHA-256 as hashlib has it, and piece hashes that check every piece."""

from __future__ import annotations

import asyncio
import hashlib
import os
import threading
import time
from pathlib import Path

import pytest

from peer_node.hashing import READ_STEP, HashingStopped, hash_file, hash_in_thread
from wire.errors import BadInput, NotFound
from wire.pieces import MIN_PIECE_SIZE, piece_count, piece_hashes_of, piece_matches


def test_piece_and_whole_hashes_match_hashlib(tmp_path: Path) -> None:
    data = os.urandom(5 * 16384 + 123)
    path = tmp_path / "f.bin"
    path.write_bytes(data)
    h = hash_file(str(path), piece_size=16384)
    assert h.size == len(data)
    assert h.sha256 == hashlib.sha256(data).hexdigest()
    assert len(h.piece_hashes) == piece_count(len(data), 16384) == 6
    assert h.piece_hashes[-1] == hashlib.sha256(data).digest()  # the chain ends at the digest
    for i in range(len(h.piece_hashes)):
        piece = data[i * 16384:(i + 1) * 16384]
        assert piece_matches(h.piece_hashes, 16384, i, piece)
        assert not piece_matches(h.piece_hashes, 16384, i, bytes([piece[0] ^ 1]) + piece[1:])


def test_default_piece_size_comes_from_the_file_size(tmp_path: Path) -> None:
    path = tmp_path / "f.bin"
    path.write_bytes(b"x" * 1000)
    h = hash_file(str(path))
    assert h.piece_size == MIN_PIECE_SIZE and len(h.piece_hashes) == 1


def test_empty_file_has_no_pieces(tmp_path: Path) -> None:
    path = tmp_path / "empty"
    path.write_bytes(b"")
    h = hash_file(str(path))
    assert h.piece_hashes == () and h.sha256 == hashlib.sha256(b"").hexdigest()


def test_progress_reaches_the_size(tmp_path: Path) -> None:
    path = tmp_path / "f.bin"
    path.write_bytes(os.urandom(100_000))
    seen: list[int] = []
    hash_file(str(path), piece_size=16384, progress=lambda done, total: seen.append(done))
    assert seen == sorted(seen) and seen[-1] == 100_000


def test_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(BadInput, match="regular file"):
        hash_file(str(tmp_path))


def test_a_fifo_is_refused_at_once_not_waited_on(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    outcome: list[BaseException | None] = []

    def share() -> None:
        try:
            hash_file(str(fifo))
            outcome.append(None)
        except BaseException as exc:  # handed to the test thread
            outcome.append(exc)

    worker = threading.Thread(target=share, daemon=True)
    worker.start()
    worker.join(10)
    if worker.is_alive():  # blocked in open(): a writer end lets it go, so the test can fail instead of hang
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        worker.join(10)
        pytest.fail("hash_file waited for a writer on a FIFO")
    assert len(outcome) == 1 and isinstance(outcome[0], BadInput) and "not a regular file" in str(outcome[0])


@pytest.mark.parametrize("path", ["/proc/self/status", "/proc/cpuinfo", "/proc/version"])
def test_a_kernel_status_file_is_refused(path: str) -> None:  # size 0, bytes made up as read: a 0-byte share
    with pytest.raises(BadInput, match="is a kernel status file, not a file to share"):
        hash_file(path)


def test_missing_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(NotFound, match="no such file"):
        hash_file(str(tmp_path / "nope"))


@pytest.mark.parametrize("pieces", [2, 21, 300])
def test_many_pieces_across_reads(tmp_path: Path, pieces: int) -> None:
    # 300 pieces of 16 KiB span two 4 MiB reads, the last one short: piece boundaries fall inside a read.
    data = os.urandom((pieces - 1) * 16384 + 77)
    path = tmp_path / "f.bin"
    path.write_bytes(data)
    h = hash_file(str(path), piece_size=16384)
    assert h.sha256 == hashlib.sha256(data).hexdigest()
    assert (h.sha256, h.piece_hashes) == piece_hashes_of(data, 16384)


@pytest.mark.parametrize("present", [1, 2])
def test_a_file_shorter_than_its_size_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                  present: int) -> None:
    # The file seems one piece longer than it is (a second or a third piece missing): the read that meets the
    # end early must turn it into the refusal.
    path = tmp_path / "f.bin"
    path.write_bytes(os.urandom(16384 * present))
    real_fstat = os.fstat
    calls: list[int] = []

    def longer_once(fd: int) -> os.stat_result:
        st = real_fstat(fd)
        calls.append(fd)
        if len(calls) > 1:
            return st
        fields = list(st)
        fields[6] = st.st_size + 16384  # st_size
        return os.stat_result(fields)

    monkeypatch.setattr("peer_node.hashing.os.fstat", longer_once)
    with pytest.raises(BadInput, match="shrank"):
        hash_file(str(path), piece_size=16384)


def test_hashing_stops_at_its_next_step_once_asked(tmp_path: Path) -> None:
    path = tmp_path / "big.bin"
    with open(path, "wb") as f:
        f.truncate(16 * READ_STEP)
    stop = threading.Event()
    steps: list[int] = []

    def progress(done: int, total: int) -> None:
        steps.append(done)
        stop.set()  # asked to stop after the first step

    with pytest.raises(HashingStopped):
        hash_file(str(path), progress=progress, stop=stop)
    assert steps == [READ_STEP]  # not the other 15 steps


async def test_a_cancelled_hashing_stops_its_thread_instead_of_hashing_the_file_to_its_end(tmp_path: Path) -> None:
    """The node stopping (Ctrl-C) cancels an upload's hashing; the thread cannot be killed, and the process waited
    for it to read the whole file."""
    path = tmp_path / "big.bin"
    path.touch()
    os.truncate(path, 64 * READ_STEP)
    steps: list[int] = []
    started = threading.Event()

    def progress(done: int, total: int) -> None:
        steps.append(done)
        started.set()
        time.sleep(0.02)  # a slow disk: the whole file would take 64 of these

    task = asyncio.create_task(hash_in_thread(str(path), progress=progress))
    await asyncio.to_thread(started.wait, 30)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    seen = -1
    while seen != len(steps):  # until the thread takes no more steps
        seen = len(steps)
        await asyncio.sleep(0.3)
    assert len(steps) < 64


def test_the_ctime_is_kept_only_if_it_held_still_while_the_file_was_read(tmp_path: Path) -> None:
    path = tmp_path / "f.bin"
    path.write_bytes(b"x" * (READ_STEP + 1))  # progress is told between two reads
    assert hash_file(str(path)).ctime_ns == path.stat().st_ctime_ns

    def chmod_midway(done: int, total: int) -> None:  # a chmod, or a file system that makes ctimes up
        if done < total:
            path.chmod(0o640 if path.stat().st_mode & 0o777 != 0o640 else 0o600)

    hashes = hash_file(str(path), piece_size=16 * 1024, progress=chmod_midway)
    assert hashes.ctime_ns is None  # watched by size and mtime until next hashed, not hashed again and again
    assert hashes.sha256 == hash_file(str(path)).sha256  # the bytes are what they are: only the ctime is set aside
