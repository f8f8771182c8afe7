"""Sharing records the share on the node before it tells the tracker, and undoes the record when the tracker
refuses: the tracker never lists a share this node would not serve (a full disk made exactly that)."""

from __future__ import annotations

import asyncio
import errno
import hashlib
from pathlib import Path
from typing import Any, cast

import pytest

from peer_node import state as state_module
from peer_node.service import NodeService
from peer_node.shares import ShareKeeper
from peer_node.state import NodeState, StateNotSaved
from peer_node.swarm.catalog import ServedFiles
from wire.errors import Conflict


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
        await keeper(fake).share("alice", "g1", str(shared), None)
    assert fake.posted == [] and fake.state.shares == {}


async def test_a_share_the_tracker_refuses_is_not_kept_and_an_earlier_one_stays(tmp_path: Path,
                                                                                shared: Path) -> None:
    fake = FakeService(tmp_path / "data")
    keep = keeper(fake)
    await keep.share("alice", "g1", str(shared), None)
    first = fake.state.shares[("alice", "g1", "f.bin")]
    assert fake.catalog.get(first.meta.sha256) is not None  # served
    # Changed, then shared again under the same name: the tracker refuses.
    await asyncio.to_thread(shared.write_bytes, b"y" * 50_000)
    fake.refusal = Conflict("group g1 already has a different file named f.bin")
    with pytest.raises(Conflict):
        await keep.share("alice", "g1", str(shared), None)
    assert fake.state.shares == {first.key: first}
    assert first.meta.sha256 != hashlib.sha256(await asyncio.to_thread(shared.read_bytes)).hexdigest()
    reloaded = NodeState(tmp_path / "data")
    reloaded.load()
    assert reloaded.shares == {first.key: first}  # on disk too
    await keep.forget("alice", "g1", "f.bin")  # closes its store
