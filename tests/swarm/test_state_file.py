"""StateFile: the saved bitfield round-trips, later saves rewrite the file in place and a save cut short there
still loads safely, a state of another length is replaced whole, a late write never puts back older bits, removal
is final, and a downloading store saves from a thread, never on the event loop."""

from __future__ import annotations

import asyncio
import os
import tempfile
import threading
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from peer_node.swarm import PieceStore
from peer_node.swarm.state_file import UNSEALED, StateFile, seal_of
from peer_node.swarm.store import full_bitfield
from tests.swarm.helpers import make_file, meta_of
from wire.records import FileMeta

PIECE = 16 * 1024


def state_of(tmp_path: Path, pieces: int = 12) -> StateFile:
    data = make_file(tmp_path / "src", pieces * PIECE)
    return StateFile(tmp_path / "state", meta_of("src", data, PIECE))


def test_saved_bits_load_back_and_another_file_reads_none(tmp_path: Path) -> None:
    state = state_of(tmp_path)
    state.save(bytearray([0b10100000, 0b00010000]))
    assert state.load() == bytearray([0b10100000, 0b00010000])
    other = StateFile(state.path, meta_of("src", make_file(tmp_path / "other", 12 * PIECE, seed=2), PIECE))
    assert other.load() is None  # another file's hashes: start over
    state.path.write_text("{not json")
    assert state.load() is None


def test_later_saves_rewrite_the_same_file_in_place(tmp_path: Path) -> None:
    state = state_of(tmp_path)
    state.save(bytearray([0b10000000, 0]))
    with open(state.path, "rb") as first:  # the file the first save made
        for bits in ([0b11000000, 0b00110000], [0b11100000, 0b00110000]):
            state.save(bytearray(bits))
            # seen through the first file: the same file, rewritten, so no block is freed or allocated per
            # save (each free would send a discard on a disk mounted with it)
            first.seek(0)
            assert first.read() == state.path.read_bytes()
            assert state.load() == bytearray(bits)
    assert not state.path.with_name("state.tmp").exists()


def fake_meta(pieces: int) -> FileMeta:
    return FileMeta("f", pieces * PIECE, PIECE, "ab" * 32, tuple(bytes(32) for _ in range(pieces)))


@settings(max_examples=150, deadline=None)
@given(st.integers(1, 3000).flatmap(lambda n: st.tuples(
    st.just(n), st.binary(min_size=(n + 7) // 8, max_size=(n + 7) // 8),
    st.binary(min_size=(n + 7) // 8, max_size=(n + 7) // 8), st.floats(0, 1))))
def test_a_save_cut_short_in_place_loads_bits_between_the_old_and_the_new(
        case: tuple[int, bytes, bytes, float]) -> None:
    pieces, raw_old, raw_more, cut_at = case
    mask = full_bitfield(pieces)
    old = bytes(a & m for a, m in zip(raw_old, mask, strict=True))
    new = bytes(a | (b & m) for a, b, m in zip(old, raw_more, mask, strict=True))  # bits are only ever set
    with tempfile.TemporaryDirectory() as d:
        state = StateFile(Path(d) / "state", fake_meta(pieces))
        state.save(old)
        _, blob = state.snapshot(new)
        cut = round(cut_at * len(blob))
        with open(state.path, "r+b") as f:  # a node killed part-way through the write: a prefix of the new
            f.write(blob[:cut])
        got = state.load()
    assert got is not None  # still this download's state: the progress is kept
    assert all(g & o == o and g & n == g for g, o, n in zip(got, old, new, strict=True))


def test_a_state_of_another_length_or_a_link_is_replaced_whole(tmp_path: Path) -> None:
    state = state_of(tmp_path)
    state.path.write_bytes(b"x" * 5000)  # another length: a foreign or older file
    state.save(bytearray([0b01000000, 0]))
    assert state.load() == bytearray([0b01000000, 0])
    outside = tmp_path / "outside"
    outside.write_bytes(b"y" * state.path.stat().st_size)  # of the very length an in-place write would take
    state.path.unlink()
    os.symlink(outside, state.path)
    state.save(bytearray([0b01100000, 0]))
    assert outside.read_bytes() == b"y" * outside.stat().st_size  # never written through the link
    assert not state.path.is_symlink() and state.load() == bytearray([0b01100000, 0])


def test_a_late_older_snapshot_does_not_replace_a_newer_one(tmp_path: Path) -> None:
    state = state_of(tmp_path)
    older = state.snapshot(bytearray([0b10000000, 0]))
    newer = state.snapshot(bytearray([0b11000000, 0]))
    assert state.write(*newer)
    assert not state.write(*older)  # its thread ran late: dropped
    assert state.load() == bytearray([0b11000000, 0])


def test_nothing_is_written_after_remove(tmp_path: Path) -> None:
    state = state_of(tmp_path)
    state.save(bytearray(2))
    in_flight = state.snapshot(bytearray([0xFF, 0xF0]))
    state.remove()
    assert not state.path.exists()
    assert not state.write(*in_flight)  # a save already handed to a thread when the download finished
    assert not state.path.exists() and not state.path.with_name("state.tmp").exists()


async def test_a_downloading_store_saves_off_the_event_loop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                                            ) -> None:
    data = make_file(tmp_path / "src", 4 * PIECE)
    meta = meta_of("src", data, PIECE)
    store = PieceStore.open_partial(tmp_path / "p", tmp_path / "s", meta)
    writers: list[threading.Thread] = []
    write = StateFile.write

    def spy(self: StateFile, seq: int, blob: bytes) -> bool:
        written = write(self, seq, blob)
        writers.append(threading.current_thread())
        return written

    monkeypatch.setattr(StateFile, "write", spy)
    assert store.verify_and_write(2, bytearray(data[2 * PIECE:3 * PIECE]))
    store.mark_verified(2)
    for _ in range(100):
        if writers:
            break
        await asyncio.sleep(0.05)
    assert writers and writers[0] is not threading.current_thread()
    assert StateFile(tmp_path / "s", meta).load() == bytearray([0b00100000])
    store.close()


def test_a_seal_round_trips_and_costs_no_length_so_saves_stay_in_place(tmp_path: Path) -> None:
    state = state_of(tmp_path)
    bits = bytearray([0b10000000, 0])
    state.save(bits)
    assert state.load_sealed() == (bits, UNSEALED)
    unsealed_size = state.path.stat().st_size
    seal = seal_of(state.path.stat())
    with open(state.path, "rb") as first:
        state.save(bits, seal)
        first.seek(0)
        assert first.read() == state.path.read_bytes()  # the same file, rewritten in place
    assert state.path.stat().st_size == unsealed_size
    assert state.load_sealed() == (bits, seal) and state.load() == bits
    state.path.write_text(state.path.read_text().replace(seal, "x"))  # a foreign or damaged seal never matches
    assert state.load_sealed() == (bits, "x")
