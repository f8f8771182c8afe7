"""direct_io: which descriptor each part of a read or write goes through, and that the bytes come out right.

The routing is checked with two ordinary files of different content standing in for the buffered and the
direct descriptor, so every byte shows which way it came; a real O_DIRECT descriptor is checked when the
filesystem under tmp_path offers one.
"""

from __future__ import annotations

import errno
import mmap
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from peer_node.swarm.direct_io import ALIGN, _NoWait, open_direct, read_at, read_cached, write_at

SIZE = 5 * ALIGN + 123  # a last block that is not whole, like most files


@pytest.fixture
def two_files(tmp_path: Path) -> Iterator[tuple[int, int]]:
    """(buffered, direct) stand-ins: the same length, bytes b"B" and b"D"."""
    fds = []
    for name, byte in (("buffered", b"B"), ("direct", b"D")):
        path = tmp_path / name
        path.write_bytes(byte * SIZE)
        fds.append(os.open(path, os.O_RDWR))
    yield fds[0], fds[1]
    for fd in fds:
        os.close(fd)


def aligned_buffer(size: int) -> memoryview:
    return memoryview(mmap.mmap(-1, size))


def test_aligned_reads_go_direct_and_the_unaligned_tail_through_the_cache(two_files: tuple[int, int]) -> None:
    buffered, direct = two_files
    view = aligned_buffer(2 * SIZE)
    got = read_at(buffered, direct, view[:SIZE], 0)
    assert got == SIZE  # the file's end: no more, and no error
    whole = SIZE - SIZE % ALIGN
    assert bytes(view[:whole]) == b"D" * whole and bytes(view[whole:SIZE]) == b"B" * (SIZE % ALIGN)


def test_unaligned_offset_or_memory_reads_through_the_cache(two_files: tuple[int, int]) -> None:
    buffered, direct = two_files
    view = aligned_buffer(4 * ALIGN)
    assert read_at(buffered, direct, view[:2 * ALIGN], 100) == 2 * ALIGN  # offset not aligned
    assert bytes(view[:2 * ALIGN]) == b"B" * 2 * ALIGN
    assert read_at(buffered, direct, view[1:ALIGN + 1], 0) == ALIGN  # memory not aligned
    assert bytes(view[1:ALIGN + 1]) == b"B" * ALIGN
    assert read_at(buffered, -1, view[:ALIGN], 0) == ALIGN  # no direct descriptor (a filesystem without it)
    assert bytes(view[:ALIGN]) == b"B" * ALIGN


def test_reads_past_the_end_return_what_there_is(two_files: tuple[int, int]) -> None:
    buffered, direct = two_files
    view = aligned_buffer(2 * ALIGN)
    assert read_at(buffered, direct, view, SIZE - 10) == 10
    assert read_at(buffered, direct, view, SIZE + ALIGN) == 0


def test_writes_go_direct_only_when_everything_is_aligned(two_files: tuple[int, int]) -> None:
    buffered, direct = two_files
    view = aligned_buffer(ALIGN)
    view[:] = b"x" * ALIGN
    assert write_at(buffered, direct, view, ALIGN)  # aligned: the direct descriptor
    assert os.pread(direct, ALIGN, ALIGN) == b"x" * ALIGN and os.pread(buffered, ALIGN, ALIGN) == b"B" * ALIGN
    assert write_at(buffered, direct, view[:100], 0)  # a short last piece: the page cache
    assert os.pread(buffered, 100, 0) == b"x" * 100 and os.pread(direct, 100, 0) == b"D" * 100


@settings(max_examples=60, deadline=None)
@given(offset=st.integers(0, SIZE + 10), length=st.integers(0, 3 * ALIGN), shift=st.sampled_from([0, 0, 1, 7]))
def test_a_real_direct_descriptor_reads_the_same_bytes_as_a_plain_read(tmp_path_factory: pytest.TempPathFactory,
                                                                       offset: int, length: int, shift: int) -> None:
    path = tmp_path_factory.mktemp("real") / "file"
    data = os.urandom(SIZE)
    path.write_bytes(data)
    fd = os.open(path, os.O_RDWR)
    direct = open_direct(fd)
    try:
        view = aligned_buffer(length + shift + ALIGN)[shift:shift + length]
        got = read_at(fd, direct, view, offset)
        assert bytes(view[:got]) == data[offset:offset + length]
    finally:
        if direct >= 0:
            os.close(direct)
        os.close(fd)


def test_read_cached_copies_what_the_page_cache_holds(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(bytes(range(256)) * 64)  # 16 KiB, just written: cached
    fd = os.open(path, os.O_RDONLY)
    try:
        view = memoryview(bytearray(5000))
        got = read_cached(fd, view, 3000)
        expected = 5000 if getattr(os, "RWF_NOWAIT", 0) else 0
        assert got == expected and view[:got] == path.read_bytes()[3000:3000 + got]
        assert read_cached(fd, memoryview(bytearray(100)), 16 * 1024 - 10) == (10 if expected else 0)  # the end
    finally:
        os.close(fd)


def test_read_cached_stops_at_a_miss_and_says_how_much_it_copied(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []

    def preadv(fd: int, buffers: list[memoryview], offset: int, flags: int) -> int:
        calls.append(offset)
        if len(calls) > 1:
            raise BlockingIOError(errno.EAGAIN, "not cached")
        buffers[0][:300] = b"x" * 300
        return 300  # some pages were there, the next one is not

    monkeypatch.setattr(_NoWait, "flag", 8)
    monkeypatch.setattr(os, "preadv", preadv)
    view = memoryview(bytearray(1000))
    assert read_cached(0, view, 4096) == 300 and calls == [4096, 4396] and view[:300] == b"x" * 300


def test_a_filesystem_that_refuses_nowait_is_not_asked_again(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(fd: int, buffers: list[memoryview], offset: int, flags: int) -> int:
        raise OSError(errno.EOPNOTSUPP, "no")

    monkeypatch.setattr(_NoWait, "flag", 8)
    monkeypatch.setattr(os, "preadv", refuse)
    assert read_cached(0, memoryview(bytearray(10)), 0) == 0
    assert _NoWait.flag == 0
    assert read_cached(0, memoryview(bytearray(10)), 0) == 0  # not asked: the refusal would raise again


def test_other_read_errors_are_not_swallowed(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(fd: int, buffers: list[memoryview], offset: int, flags: int) -> int:
        raise OSError(errno.EIO, "I/O error")

    monkeypatch.setattr(_NoWait, "flag", 8)
    monkeypatch.setattr(os, "preadv", broken)
    with pytest.raises(OSError):
        read_cached(0, memoryview(bytearray(10)), 0)
