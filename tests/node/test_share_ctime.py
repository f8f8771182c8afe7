"""A share's file rewritten with its size and mtime put back (``touch -d``, ``cp -p`` over it) is seen by its ctime,
which no call sets back: the node stops serving it and drops the share once its bytes are found different."""

from __future__ import annotations

import asyncio
import dataclasses
import os
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest

from peer_node.state import NodeState, ShareRecord
from tests.node.test_share_order import FakeService, keeper
from tests.node.test_state import TEN_BYTES


@pytest.fixture
def shared(tmp_path: Path) -> Path:
    path = tmp_path / "f.bin"
    path.write_bytes(b"x" * 50_000)
    return path


def rewrite_keeping_size_and_mtime(path: Path) -> None:
    st = path.stat()
    with open(path, "r+b") as f:
        f.write(b"y" * 100)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert path.stat().st_ctime_ns != st.st_ctime_ns  # the one thing a stat still tells


def ctime_of(path: Path) -> int:
    return path.stat().st_ctime_ns


async def shared_by_an_older_release(fake: FakeService, shared: Path) -> ShareRecord:
    """``shared`` shared, then written down without its ctime (as a node of the previous release did), its node
    stopped; returns the share as hashed (with its ctime)."""
    keep = keeper(fake)
    await keep.share("alice", "g1", str(shared), None, 0)
    (record,) = fake.state.shares.values()
    await fake.state.put_share(dataclasses.replace(record, ctime_ns=None))
    await keep.stop_serving()
    return record


def logged_in(tmp_path: Path) -> FakeService:
    fake = FakeService(tmp_path / "data")
    fake.state.session = cast(Any, SimpleNamespace(user_id="alice"))
    fake.share_check_s = 3600.0  # type: ignore[attr-defined]  # the watch's own pace: looks are called here
    return fake


async def test_a_served_file_rewritten_with_size_and_mtime_put_back_stops_being_served_and_is_dropped(
        tmp_path: Path, shared: Path) -> None:
    fake = logged_in(tmp_path)
    keep = keeper(fake)
    await keep.share("alice", "g1", str(shared), None, 0)
    (record,) = fake.state.shares.values()
    assert record.ctime_ns == ctime_of(shared)
    await keep._look_at_served()
    assert keep.serves("alice", "g1", record.meta.sha256)  # untouched: still served, nothing re-hashed

    rewrite_keeping_size_and_mtime(shared)
    await keep._look_at_served()
    assert not keep.serves("alice", "g1", record.meta.sha256)  # at once, before any re-hash
    await keep.wait_checks()
    assert fake.state.shares == {}  # the re-hash found other bytes: the share ended ...
    assert fake.posted == ["/groups/g1/files", "/groups/g1/files/f.bin/share"]  # ... at the tracker too
    await keep.stop_serving()


async def test_a_file_only_chmodded_is_hashed_again_and_served_again_with_its_new_ctime(
        tmp_path: Path, shared: Path) -> None:
    fake = logged_in(tmp_path)
    keep = keeper(fake)
    await keep.share("alice", "g1", str(shared), None, 0)
    (record,) = fake.state.shares.values()
    # a chmod moves the ctime, not the bytes: one needless re-hash, then served as before
    await asyncio.to_thread(shared.chmod, 0o640)
    await keep._look_at_served()
    await keep.wait_checks()
    (again,) = fake.state.shares.values()
    assert again.meta == record.meta and again.ctime_ns == ctime_of(shared) != record.ctime_ns
    assert keep.serves("alice", "g1", record.meta.sha256)
    await keep.stop_serving()


async def test_a_share_recorded_without_a_ctime_is_served_at_login_and_its_ctime_noted_from_then_on(
        tmp_path: Path, shared: Path) -> None:
    fake = logged_in(tmp_path)
    record = await shared_by_an_older_release(fake, shared)
    keep = keeper(fake)  # the node starts again, logged in
    keep.serve_user("alice")
    assert keep.serves("alice", "g1", record.meta.sha256)  # size and mtime agree: served at once, no re-hash
    await keep.wait_checks()
    noted = fake.state.shares[record.key]
    assert noted.ctime_ns == ctime_of(shared) and noted.meta == record.meta
    reloaded = NodeState(fake.data_dir)
    reloaded.load()
    assert reloaded.shares[record.key].ctime_ns == noted.ctime_ns  # written down

    rewrite_keeping_size_and_mtime(shared)  # ... so that this is seen from now on
    await keep._look_at_served()
    assert not keep.serves("alice", "g1", record.meta.sha256)
    await keep.stop_serving()


def test_a_share_record_keeps_its_ctime_and_one_written_without_it_reads_as_none() -> None:
    rec = ShareRecord("alice", "g1", "/x/f.bin", 10, 123, TEN_BYTES, 456)
    assert ShareRecord.from_json(rec.to_json()) == rec
    old = rec.to_json()
    del old["ctime_ns"]
    assert ShareRecord.from_json(old) == dataclasses.replace(rec, ctime_ns=None)
    assert "ctime_ns" not in ShareRecord.from_json(old).to_json()  # written back as it was read



async def test_noting_a_ctime_never_voids_a_re_hash_under_way(tmp_path: Path, shared: Path) -> None:
    fake = logged_in(tmp_path)
    record = await shared_by_an_older_release(fake, shared)
    keep = keeper(fake)
    keep.serve_user("alice")  # served at once; its ctime to be noted in the background ...
    # ... while the watch, meanwhile, found the file changed: re-hashed
    keep._stop_serving_changed(fake.state.shares[record.key])
    await keep.wait_checks()
    # The note used to swap the record under the re-hash, which then neither served nor dropped the share: it
    # stayed unserved until the next login.
    assert keep.serves("alice", "g1", record.meta.sha256)
    assert fake.state.shares[record.key].ctime_ns == ctime_of(shared)  # the re-hash's record
    await keep.stop_serving()
