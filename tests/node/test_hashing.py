"""Share-time hashing: the same digests as plain hashlib, piece by piece and whole."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from peer_node.hashing import hash_file
from wire.errors import BadInput, NotFound
from wire.pieces import MIN_PIECE_SIZE, piece_count, piece_digest


def test_piece_and_whole_hashes_match_hashlib(tmp_path: Path) -> None:
    data = os.urandom(5 * 16384 + 123)
    path = tmp_path / "f.bin"
    path.write_bytes(data)
    h = hash_file(str(path), piece_size=16384)
    assert h.size == len(data)
    assert h.sha256 == hashlib.sha256(data).hexdigest()
    assert len(h.piece_hashes) == piece_count(len(data), 16384) == 6
    for i, digest in enumerate(h.piece_hashes):
        assert digest == piece_digest(data[i * 16384:(i + 1) * 16384])


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


def test_missing_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(NotFound, match="no such file"):
        hash_file(str(tmp_path / "nope"))


@pytest.mark.parametrize("pieces", [2, 21, 300])
def test_many_pieces_with_both_threads_reading(tmp_path: Path, pieces: int) -> None:
    # The worker reuses its one piece buffer for every piece; 300 pieces of 16 KiB span two of the caller's
    # 4 MiB reads for the whole-file hash, the last one short.
    data = os.urandom((pieces - 1) * 16384 + 77)
    path = tmp_path / "f.bin"
    path.write_bytes(data)
    h = hash_file(str(path), piece_size=16384)
    assert h.sha256 == hashlib.sha256(data).hexdigest()
    assert list(h.piece_hashes) == [piece_digest(data[i:i + 16384]) for i in range(0, len(data), 16384)]


@pytest.mark.parametrize("present", [1, 2])
def test_a_file_shorter_than_its_size_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                  present: int) -> None:
    # The file seems one piece longer than it is (a second or a third piece missing): both threads read up to
    # the size, and whichever meets the end first must turn it into the refusal.
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
