"""StateFile: the saved bitfield round-trips, a late write never puts back older bits, removal is final, and a
downloading store saves from a thread, never on the event loop."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest

from peer_node.swarm import PieceStore
from peer_node.swarm.state_file import StateFile
from tests.swarm.helpers import make_file, meta_of

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
