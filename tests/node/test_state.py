"""The node's persisted state: the API key file and the atomic JSON documents."""

from __future__ import annotations

import asyncio
import errno
import hashlib
import json
import stat
import time
from pathlib import Path

import pytest

from peer_node import state as state_module
from peer_node.data_files import write_atomic
from peer_node.state import (
    DownloadRecord,
    NodeState,
    SessionRecord,
    ShareRecord,
    StateNotSaved,
    load_or_create_api_key,
)
from wire.records import FileMeta

TEN_BYTES = FileMeta("f.bin", 10, 16384, hashlib.sha256(b"0123456789").hexdigest(),
                     (hashlib.sha256(b"0123456789").digest(),))


def test_api_key_is_created_once_with_mode_0600(tmp_path: Path) -> None:
    key = load_or_create_api_key(tmp_path)
    assert len(key) >= 32
    assert stat.S_IMODE((tmp_path / "api-key").stat().st_mode) == 0o600
    assert load_or_create_api_key(tmp_path) == key


async def test_session_shares_and_downloads_survive_a_restart(tmp_path: Path) -> None:
    meta = TEN_BYTES
    state = NodeState(tmp_path)
    state.load()
    await state.set_session(SessionRecord("alice", "tok", "ab" * 32, 2.0))
    await state.put_share(ShareRecord("alice", "g1", "/x/f.bin", 10, 123, meta))
    await state.put_download(DownloadRecord("alice", "g1", "f.bin", "/y/f.bin", "D", meta, started_at=1.0))
    again = NodeState(tmp_path)
    again.load()
    assert again.session == state.session
    assert again.shares == state.shares
    assert again.downloads == state.downloads
    await again.set_session(None)
    third = NodeState(tmp_path)
    third.load()
    assert third.session is None


def test_corrupt_documents_are_ignored_but_copied_aside_first(tmp_path: Path,
                                                             caplog: pytest.LogCaptureFixture) -> None:
    (tmp_path / "shares.json").write_text("{not json", encoding="utf-8")
    (tmp_path / "downloads.json").write_text('[{"user_id": "a"}]', encoding="utf-8")
    state = NodeState(tmp_path)
    state.load()
    assert state.shares == {} and state.downloads == {}
    [shares_aside] = tmp_path.glob("shares.json.damaged-*")
    [downloads_aside] = tmp_path.glob("downloads.json.damaged-*")
    assert shares_aside.read_text() == "{not json"  # as it was: the next save rewrites shares.json from memory
    assert downloads_aside.read_text() == '[{"user_id": "a"}]'
    assert "1 of its 1 records cannot be read" in caplog.text and str(downloads_aside) in caplog.text


async def test_one_bad_record_costs_only_itself_and_never_stops_the_start(tmp_path: Path) -> None:
    # A name that later rules refuse (a file name with a text-direction control, written by an older version)
    # raised BadInput out of load(): the node did not start at all.
    first = NodeState(tmp_path)
    first.load()
    meta = TEN_BYTES
    good = DownloadRecord("alice", "lab", "good.bin", "/dl/good.bin", "D", meta)
    await first.put_download(good)
    doc = json.loads((tmp_path / "downloads.json").read_text())
    evil = {**doc[0]["meta"], "file_name": "evil\u202egnp.exe"}
    doc.append({**doc[0], "file_name": "other.bin", "meta": evil})
    doc.append("not a record")
    (tmp_path / "downloads.json").write_text(json.dumps(doc))
    again = NodeState(tmp_path)
    again.load()
    assert list(again.downloads) == [good.key]
    [aside] = list(tmp_path.glob("downloads.json.damaged-*"))  # noqa: ASYNC240 (a test's tmp dir)
    assert len(json.loads(aside.read_text())) == 3  # all three kept aside, the two it could not read included


async def test_a_change_the_disk_cannot_take_is_refused_and_undone_in_memory(tmp_path: Path,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    meta = TEN_BYTES
    state = NodeState(tmp_path)
    state.load()
    kept = ShareRecord("alice", "g1", "/x/f.bin", 10, 123, meta)
    await state.put_share(kept)

    def full(path: Path, data: bytes, mode: int = 0o600) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(state_module, "write_atomic", full)
    changes = [
        state.put_share(ShareRecord("alice", "g1", "/x/other.bin", 10, 124, meta)),  # replaces ``kept``
        state.put_share(ShareRecord("alice", "g2", "/x/f.bin", 10, 123, meta)),  # a new one
        state.drop_share(kept.key),
        state.put_download(DownloadRecord("alice", "g1", "f.bin", "/y/f.bin", "D", meta)),
        state.set_session(SessionRecord("alice", "tok", "ab" * 32, 2.0)),
        state.set_asked("alice", {"g3": 7}),
    ]
    for change in changes:
        with pytest.raises(StateNotSaved) as refused:
            await change
        assert refused.value.status == 503
        assert refused.value.message == f"the node cannot save its state in {tmp_path}: No space left on device"
    assert state.shares == {kept.key: kept}  # as before every refused change
    assert state.downloads == {} and state.session is None and state.asked == {}
    state.session = SessionRecord("alice", "tok", "ab" * 32, 2.0)
    await state.clear_session()  # a logout on a full disk: logged out all the same, in memory (no raise)
    assert state.session is None


async def test_a_failed_save_does_not_undo_a_later_change_to_the_same_record(tmp_path: Path,
                                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    meta = TEN_BYTES
    state = NodeState(tmp_path)
    state.load()
    first_write = asyncio.Event()
    writes = 0

    def first_fails_late(path: Path, data: bytes, mode: int = 0o600) -> None:
        nonlocal writes
        writes += 1
        if writes == 1:
            first_write.set()
            time.sleep(0.2)  # the second change is made meanwhile
            raise OSError(errno.EIO, "Input/output error")
        write_atomic(path, data, mode)

    monkeypatch.setattr(state_module, "write_atomic", first_fails_late)
    first = DownloadRecord("alice", "g1", "f.bin", "/y/f.bin", "D", meta)
    second = DownloadRecord("alice", "g1", "f.bin", "/y/f.bin", "P", meta)
    failing = asyncio.create_task(state.put_download(first))
    await first_write.wait()
    await asyncio.gather(failing, state.put_download(second), return_exceptions=True)
    assert isinstance(failing.exception(), StateNotSaved)
    assert state.downloads == {first.key: second}  # the later change stands, in memory...
    again = NodeState(tmp_path)
    again.load()
    assert again.downloads == {first.key: second}  # ...and on disk, alike


async def test_when_two_changes_to_one_record_both_fail_the_value_on_disk_comes_back(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A (X to Y) fails while B (Y to Z) is made; B fails too: Y was never stored, so X comes back, not Y."""
    meta = TEN_BYTES
    state = NodeState(tmp_path)
    state.load()
    stored = DownloadRecord("alice", "g1", "f.bin", "/y/f.bin", "P", meta)
    await state.put_download(stored)
    first_write = asyncio.Event()

    def every_write_fails(path: Path, data: bytes, mode: int = 0o600) -> None:
        if not first_write.is_set():
            first_write.set()
            time.sleep(0.2)  # the second change is made meanwhile
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(state_module, "write_atomic", every_write_fails)
    first = stored.with_(state="D")
    second = stored.with_(state="F", reason="stopped")
    failing = asyncio.create_task(state.put_download(first))
    await first_write.wait()
    results = await asyncio.gather(failing, state.put_download(second), return_exceptions=True)
    assert all(isinstance(r, StateNotSaved) for r in results)
    assert state.downloads == {stored.key: stored}  # what the disk holds
    again = NodeState(tmp_path)
    again.load()
    assert again.downloads == {stored.key: stored}


async def test_a_failed_change_puts_back_what_an_earlier_overlapping_save_stored(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A (X to Y) is stored while B (Y to Z) is made; B fails: Y is on disk, so Y comes back."""
    meta = TEN_BYTES
    state = NodeState(tmp_path)
    state.load()
    first_write = asyncio.Event()

    def only_the_first_is_stored(path: Path, data: bytes, mode: int = 0o600) -> None:
        if first_write.is_set():
            raise OSError(errno.ENOSPC, "No space left on device")
        first_write.set()
        time.sleep(0.2)  # the second change is made meanwhile
        write_atomic(path, data, mode)

    monkeypatch.setattr(state_module, "write_atomic", only_the_first_is_stored)
    first = DownloadRecord("alice", "g1", "f.bin", "/y/f.bin", "D", meta)
    second = first.with_(state="P")
    stored = asyncio.create_task(state.put_download(first))
    await first_write.wait()
    results = await asyncio.gather(stored, state.put_download(second), return_exceptions=True)
    assert results[0] is None and isinstance(results[1], StateNotSaved)
    assert state.downloads == {first.key: first}
    again = NodeState(tmp_path)
    again.load()
    assert again.downloads == {first.key: first}


def test_a_records_kept_pieces_survive_a_restart_and_a_garbled_value_costs_only_the_map(tmp_path: Path) -> None:
    rec = DownloadRecord("alice", "g1", "f.bin", "/y/f.bin", "P", None, kept_bits="a0ff")
    assert DownloadRecord.from_json(rec.to_json()) == rec
    assert DownloadRecord.from_json({**rec.to_json(), "kept_bits": "not hex"}).kept_bits == ""
    assert DownloadRecord.from_json({**rec.to_json(), "kept_bits": 7}).kept_bits == ""


def test_the_temporary_files_of_writes_a_kill_cut_off_go_at_the_next_start(tmp_path: Path) -> None:
    """Each write's temporary file has a name of its own: a node killed between its create and its rename left it
    for good (an audit's 25 kills left 18). The next start deletes them, and nothing else."""
    data = tmp_path / "node"
    data.mkdir()
    (data / "settings.json").write_text('{"upload_limit": 5000}')
    leftovers = [".settings.json.0a1b2c3d.tmp", ".shares.json.137b5bd1.tmp", ".downloads.json.e55d8c41.tmp"]
    for name in leftovers:
        (data / name).write_bytes(b"{half a write")
    kept = ["notes.tmp", ".settings.json.tmp", ".a.json.XYZ12345.tmp", "shares.json.0a1b2c3d.tmp"]
    for name in kept:
        (data / name).write_bytes(b"not ours")
    (data / ".dir.0a1b2c3d.tmp").mkdir()  # a directory of that name is not a write's
    node = NodeState(data)
    node.load()
    assert node.settings.upload_limit == 5000
    assert sorted(p.name for p in data.iterdir()) == sorted([*kept, ".dir.0a1b2c3d.tmp", "settings.json"])


async def test_a_share_and_a_download_under_a_name_no_longer_allowed_for_new_files_survive_a_restart(
        tmp_path: Path) -> None:
    """A soft hyphen is refused in a name shared from now on (an invisible difference), but a file shared or
    downloaded under such a name before keeps it: refused at load, it was dropped and its document set aside."""
    name = "re\u00adport.pdf"
    meta = FileMeta(name, 10, 16384, hashlib.sha256(b"0123456789").hexdigest(),
                    (hashlib.sha256(b"0123456789").digest(),))
    state = NodeState(tmp_path)
    state.load()
    await state.put_share(ShareRecord("alice", "g1", f"/x/{name}", 10, 123, meta))
    await state.put_download(DownloadRecord("alice", "g2", name, f"/y/{name}", "D", meta, started_at=1.0))
    again = NodeState(tmp_path)
    again.load()
    assert again.shares == state.shares and again.downloads == state.downloads
    assert not await asyncio.to_thread(lambda: list(tmp_path.glob("*damaged*")))
