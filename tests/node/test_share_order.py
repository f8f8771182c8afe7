"""Sharing records the share on the node before it tells the tracker, and undoes the record when the tracker
refuses: the tracker never lists a share this node would not serve (a full disk made exactly that)."""

from __future__ import annotations

import asyncio
import errno
import hashlib
import logging
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest

from peer_node import shares as shares_module
from peer_node import state as state_module
from peer_node.hashing import hash_in_thread
from peer_node.service import NodeService
from peer_node.shares import ShareKeeper
from peer_node.state import NodeState, ShareRecord, StateNotSaved
from peer_node.swarm.catalog import ServedFiles
from wire.errors import BadInput, Conflict, NotLoggedIn
from wire.records import FileMeta


class FakeService:
    def __init__(self, data_dir: Path, refusal: Exception | None = None) -> None:
        self.data_dir = data_dir  # also config.data_dir: config is this object
        self.state = NodeState(data_dir)
        self.state.load()
        self.catalog = ServedFiles()
        self.refusal = refusal
        self.posted: list[str] = []
        self.heartbeat = self
        self.config = self

    piece_size = None
    login_generation = 0

    def wake(self) -> None:
        pass

    async def authed(self, method: str, path: str, body: Any = None, *, write: bool = False) -> dict[str, object]:
        self.posted.append(path)
        if self.refusal is not None:
            raise self.refusal
        return {}


def keeper(fake: FakeService) -> ShareKeeper:
    return ShareKeeper(cast(NodeService, fake))


@pytest.fixture
def shared(tmp_path: Path) -> Path:
    path = tmp_path / "f.bin"
    path.write_bytes(b"x" * 50_000)
    return path


async def test_a_share_the_disk_cannot_record_never_reaches_the_tracker(tmp_path: Path, shared: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeService(tmp_path / "data")

    def full(path: Path, data: bytes, mode: int = 0o600) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(state_module, "write_atomic", full)
    with pytest.raises(StateNotSaved):
        await keeper(fake).share("alice", "g1", str(shared), None, 0)
    assert fake.posted == [] and fake.state.shares == {}


async def test_a_share_the_tracker_refuses_is_not_kept_and_an_earlier_one_stays(tmp_path: Path,
                                                                                shared: Path) -> None:
    fake = FakeService(tmp_path / "data")
    keep = keeper(fake)
    await keep.share("alice", "g1", str(shared), None, 0)
    first = fake.state.shares[("alice", "g1", "f.bin")]
    assert fake.catalog.get(first.meta.sha256) is not None  # served
    # Changed, then shared again under the same name: the tracker refuses.
    await asyncio.to_thread(shared.write_bytes, b"y" * 50_000)
    fake.refusal = Conflict("group g1 already has a different file named f.bin")
    with pytest.raises(Conflict):
        await keep.share("alice", "g1", str(shared), None, 0)
    assert fake.state.shares == {first.key: first}
    assert first.meta.sha256 != hashlib.sha256(await asyncio.to_thread(shared.read_bytes)).hexdigest()
    reloaded = NodeState(tmp_path / "data")
    reloaded.load()
    assert reloaded.shares == {first.key: first}  # on disk too
    await keep.forget("alice", "g1", "f.bin")  # closes its store


async def test_a_logout_while_the_file_is_hashed_shares_nothing(tmp_path: Path, shared: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    # Else the share went to the tracker under whoever logged in next (the tracker client has one session).
    fake = FakeService(tmp_path / "data")
    real_hash = hash_in_thread

    async def hash_then_logout(*args: Any) -> Any:
        hashes = await real_hash(*args)
        fake.login_generation += 1  # the logout, while the hash ran in its thread
        return hashes

    monkeypatch.setattr(shares_module, "hash_in_thread", hash_then_logout)
    with pytest.raises(NotLoggedIn, match="logged out while the file was being hashed"):
        await keeper(fake).share("alice", "g1", str(shared), None, 0)
    assert fake.posted == [] and fake.state.shares == {}


async def test_a_logout_while_the_tracker_records_the_share_serves_nothing_until_the_next_login(
        tmp_path: Path, shared: Path) -> None:
    fake = FakeService(tmp_path / "data")
    real_authed = fake.authed

    async def post_then_logout(method: str, path: str, body: Any = None, *, write: bool = False) -> dict[str, object]:
        answer = await real_authed(method, path, body, write=write)
        fake.login_generation += 1  # the logout, while the POST was on its way
        return answer

    fake.authed = post_then_logout  # type: ignore[method-assign]
    keep = keeper(fake)
    await keep.share("alice", "g1", str(shared), None, 0)
    (record,) = fake.state.shares.values()  # on record, as the tracker has it: served again at the next login
    assert not keep.is_serving(record) and fake.catalog.get(record.meta.sha256) is None  # not while logged out


async def test_two_shares_of_one_name_at_once_go_one_after_the_other(tmp_path: Path, shared: Path) -> None:
    # Interleaved, the loser's undo dropped the winner's record: the tracker shared what the node forgot.
    fake = FakeService(tmp_path / "data")
    keep = keeper(fake)
    other = tmp_path / "other" / "f.bin"
    other.parent.mkdir()
    other.write_bytes(b"z" * 50_000)
    release, posting = asyncio.Event(), asyncio.Event()
    real_authed = fake.authed
    seen_at_post: list[dict[Any, Any]] = []

    async def slow_authed(method: str, path: str, body: Any = None, *, write: bool = False) -> dict[str, object]:
        seen_at_post.append(dict(fake.state.shares))
        if len(seen_at_post) == 1:
            posting.set()
            await release.wait()
        return await real_authed(method, path, body, write=write)

    fake.authed = slow_authed  # type: ignore[method-assign]
    first = asyncio.create_task(keep.share("alice", "g1", str(shared), None, 0))
    second = asyncio.create_task(keep.share("alice", "g1", str(other), None, 0))
    await posting.wait()
    await asyncio.sleep(0.2)  # the second call has had all the time it needs to hash and record, were it let
    assert len(seen_at_post) == 1 and fake.state.shares[("alice", "g1", "f.bin")].path == str(shared)
    release.set()
    await asyncio.gather(first, second)
    assert fake.state.shares[("alice", "g1", "f.bin")].path == str(other)  # the later one, on both sides
    await keep.forget("alice", "g1", "f.bin")


async def test_a_shared_file_gone_is_kept_unserved_said_once_and_served_again_once_it_is_back(
        tmp_path: Path, shared: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A drive unplugged or a folder renamed for a while: the share waits for its file instead of ending."""
    fake = FakeService(tmp_path / "data")
    fake.state.session = cast(Any, SimpleNamespace(user_id="alice"))
    keep = keeper(fake)
    await keep.share("alice", "g1", str(shared), None, 0)
    (record,) = fake.state.shares.values()
    sha = record.meta.sha256
    aside = tmp_path / "aside.bin"
    await asyncio.to_thread(shared.rename, aside)  # the user moved it away
    noticed = time.time()
    caplog.set_level(logging.WARNING, logger="peer_node.shares")
    keep._stop_serving_changed(record)  # what the watch does when its stat fails
    await keep.wait_checks()
    await keep._look_at_absent()  # nothing looks different: not read again, not said again
    await keep.wait_checks()
    said = [r.getMessage() for r in caplog.records]
    assert said == [f"share g1/f.bin: the file {shared} changed on disk; not serving it until it is checked again",
                    f"share g1/f.bin: the file {shared} is gone (moved or deleted); not serving it until it is back"]
    assert fake.state.shares == {record.key: record} and fake.posted == ["/groups/g1/files"]  # no DELETE
    assert not keep.serves("alice", "g1", sha) and fake.catalog.get(sha) is None
    (listed,) = NodeService.shares(cast(NodeService, SimpleNamespace(
        state=fake.state, shares_keeper=keep, _user=lambda: SimpleNamespace(user_id="alice"))))
    assert listed.unavailable == "is gone (moved or deleted)"
    assert listed.unavailable_since is not None and noticed <= listed.unavailable_since <= time.time()

    caplog.clear()
    await asyncio.to_thread(aside.rename, shared)  # ... and back
    await keep._look_at_absent()
    await keep.wait_checks()
    assert [r.getMessage() for r in caplog.records] == [
        f"share g1/f.bin: the file {shared} is back; serving it again"]
    assert keep.serves("alice", "g1", sha) and keep.absent.get(record.key) is None
    await keep.stop_serving()


async def test_a_shared_file_unreadable_waits_for_its_permission_and_one_with_other_bytes_is_dropped(
        tmp_path: Path, shared: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeService(tmp_path / "data")
    fake.state.session = cast(Any, SimpleNamespace(user_id="alice"))
    keep = keeper(fake)
    await keep.share("alice", "g1", str(shared), None, 0)
    (record,) = fake.state.shares.values()
    caplog.set_level(logging.WARNING, logger="peer_node.shares")

    async def refused(path: str, piece_size: int | None = None, progress: Any = None) -> Any:
        raise BadInput(f"cannot read {path}: Permission denied")

    with monkeypatch.context() as patch:
        patch.setattr(shares_module, "hash_in_thread", refused)
        await keep._recheck(record)
    absence = keep.absent.get(record.key)
    assert absence is not None and absence.why == "cannot be read (Permission denied)"
    # Given back its permission (chmod changes its ctime) but with other bytes: dropped, at the tracker too.
    await asyncio.to_thread(shared.write_bytes, b"y" * 50_000)
    await keep._look_at_absent()
    await keep.wait_checks()
    assert fake.state.shares == {} and keep.absent.get(record.key) is None
    assert fake.posted[-1] == "/groups/g1/files/f.bin/share"
    assert [r.getMessage() for r in caplog.records][-1] == (
        f"share g1/f.bin: the file {shared} no longer matches what was shared; dropping it")


async def test_a_finished_download_the_disk_cannot_record_as_a_share_is_served_all_the_same(
        tmp_path: Path, shared: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The file is whole and in place: the node serves it whatever the data dir says; a restart finds it again by
    its download (``download_records.found_whole``)."""
    fake = FakeService(tmp_path / "data")
    fake.state.session = cast(Any, SimpleNamespace(user_id="alice"))
    hashes = await hash_in_thread(str(shared))
    meta = FileMeta("f.bin", hashes.size, hashes.piece_size, hashes.sha256, hashes.piece_hashes)
    record = ShareRecord("alice", "g1", str(shared), hashes.size, hashes.mtime_ns, meta)

    def full(path: Path, data: bytes, mode: int = 0o600) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(state_module, "write_atomic", full)
    keeper_ = keeper(fake)
    await keeper_.adopt_download(record)
    assert fake.state.shares[record.key] == record
    assert keeper_.serves("alice", "g1", meta.sha256)
    store = fake.catalog.get(meta.sha256)
    assert store is not None and store.is_complete
    store.close()


async def test_a_listing_asked_before_a_share_was_recorded_does_not_end_it(tmp_path: Path, shared: Path) -> None:
    """The answer "not a member of g1" may predate the admission that let the share be made: only a share older
    than the question ends."""
    fake = FakeService(tmp_path / "data")
    keep = keeper(fake)
    asked_before = time.monotonic()
    await keep.share("alice", "g1", str(shared), None, 0)
    assert await keep.end_outside("alice", {"g1"}, asked_before) == 0
    assert await keep.end_outside("bob", {"g1"}, time.monotonic()) == 0  # another user's shares are theirs
    assert list(fake.state.shares) == [("alice", "g1", "f.bin")]
    assert await keep.end_outside("alice", {"g2"}, time.monotonic()) == 0
    assert await keep.end_outside("alice", {"g1"}, time.monotonic()) == 1
    assert fake.state.shares == {}


async def test_a_share_a_command_is_working_on_is_left_to_that_command(tmp_path: Path, shared: Path) -> None:
    fake = FakeService(tmp_path / "data")
    keep = keeper(fake)
    await keep.share("alice", "g1", str(shared), None, 0)
    async with keep.locks.hold(("alice", "g1", "f.bin")):  # a share of it again, or a stop, under way
        assert await keep.end_outside("alice", {"g1"}, time.monotonic()) == 0
    assert list(fake.state.shares) == [("alice", "g1", "f.bin")]


@pytest.mark.parametrize("bytes_now", ["the same", "other"])
async def test_a_share_stopped_while_its_file_is_checked_again_stays_stopped(
        tmp_path: Path, shared: Path, monkeypatch: pytest.MonkeyPatch, bytes_now: str) -> None:
    """A 50 GiB file takes minutes to hash: a Stop sharing meanwhile must stand, whatever the hash finds."""
    fake = FakeService(tmp_path / "data")
    fake.state.session = cast(Any, SimpleNamespace(user_id="alice"))
    keep = keeper(fake)
    await keep.share("alice", "g1", str(shared), None, 0)
    (record,) = fake.state.shares.values()
    if bytes_now == "other":
        await asyncio.to_thread(shared.write_bytes, b"y" * 50_000)
    hashing, release = asyncio.Event(), asyncio.Event()
    real_hash = hash_in_thread

    async def slow(path: str, piece_size: int | None = None, progress: Any = None) -> Any:
        hashing.set()
        await release.wait()
        return await real_hash(path, piece_size, progress)

    monkeypatch.setattr(shares_module, "hash_in_thread", slow)
    keep._stop_serving_changed(record)
    await hashing.wait()
    async with keep.locks.hold(record.key):  # as stop_share does
        await keep.forget("alice", "g1", "f.bin")
    posted = list(fake.posted)
    release.set()
    await keep.wait_checks()
    assert fake.state.shares == {} and not keep.serves("alice", "g1", record.meta.sha256)
    assert fake.posted == posted  # and no DELETE of a share that is not this check's any more
    await keep.stop_serving()
