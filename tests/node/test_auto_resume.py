"""A download that failed for want of a seeder is started again by the node once the tracker lists one; the
schedule of its questions, and when it stops asking."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import pytest

from peer_node.auto_resume import FIRST_S, MAX_S, AutoResume, Backoff
from peer_node.downloads import DownloadManager
from peer_node.state import DownloadRecord, NodeState
from peer_node.swarm.catalog import ServedFiles
from peer_node.swarm.config import SwarmSnapshot
from peer_node.tracker_client import TrackerClient
from wire.errors import Conflict, Forbidden, GroupShareError, NotFound, Unavailable
from wire.records import FileMeta, SeederInfo


def test_questions_are_spaced_ever_wider_up_to_a_minute() -> None:
    b = Backoff.starting(100.0)
    assert not b.due(100.0 + FIRST_S - 0.01) and b.due(100.0 + FIRST_S)
    gaps = []
    now = 100.0 + FIRST_S
    for _ in range(8):
        b.asked(now)
        gaps.append(b.due_at - now)
        now = b.due_at
    assert gaps == [10.0, 20.0, 40.0, 60.0, 60.0, 60.0, 60.0, 60.0]
    assert max(gaps) == MAX_S
    slow = Backoff.starting(0.0, first=3600.0)  # a first wait longer than the cap stays as long
    slow.asked(3600.0)
    assert slow.due_at == 7200.0


def failed(name: str, *, watched: bool = True, user: str = "bob") -> DownloadRecord:
    return DownloadRecord(user, "g", name, f"/dl/{name}", "F", reason="no seeder reachable",
                          resume_when_seeded=watched)


@dataclass
class FakeManager:
    """The parts of DownloadManager that AutoResume uses, with the tracker's answer chosen by the test."""

    downloads: dict[tuple[str, str, str], DownloadRecord]
    answer: GroupShareError | int = 0  # an error to raise, or how many seeders to list
    start_error: GroupShareError | None = None
    started: list[str] = field(default_factory=list)
    asked: list[str] = field(default_factory=list)
    stopped: dict[str, str] = field(default_factory=dict)

    @property
    def state(self) -> Any:
        return self

    def running_keys(self) -> set[tuple[str, str, str]]:
        return set()

    async def fetch_swarm(self, group_id: str, file_name: str) -> tuple[None, SwarmSnapshot]:
        self.asked.append(file_name)
        if isinstance(self.answer, GroupShareError):
            raise self.answer
        seeders = [SeederInfo(f"u{i}", "127.0.0.1", 1000 + i, "", None) for i in range(self.answer)]
        return None, SwarmSnapshot("token", seeders)

    async def start(self, user_id: str, group_id: str, file_name: str, destination: str, *,
                    resuming: DownloadRecord | None = None) -> None:
        assert resuming is self.downloads[(user_id, group_id, file_name)]
        if self.start_error is not None:
            raise self.start_error
        self.started.append(file_name)

    async def stop_watching(self, rec: DownloadRecord, why: str) -> None:
        self.stopped[rec.file_name] = why


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def resumer(manager: FakeManager, clock: Clock) -> AutoResume:
    return AutoResume(cast(DownloadManager, manager), 5.0, clock)


async def test_only_watched_failures_of_the_user_are_asked_about_and_only_when_due() -> None:
    recs = [failed("a"), failed("b", watched=False), failed("c", user="dave")]
    manager, clock = FakeManager({r.key: r for r in recs}), Clock()
    auto = resumer(manager, clock)
    await auto.check("bob")
    assert manager.asked == []  # not yet: the first question waits 5 s
    clock.now += 5.0
    await auto.check("bob")
    assert manager.asked == ["a"] and manager.started == []  # no seeder listed: it waits on
    clock.now += 5.0
    await auto.check("bob")
    assert manager.asked == ["a"]  # the next question waits 10 s
    clock.now += 5.0
    manager.answer = 1
    await auto.check("bob")
    assert manager.asked == ["a", "a"] and manager.started == ["a"]


async def _asked_once(answer: GroupShareError) -> tuple[FakeManager, Clock, AutoResume]:
    """Failed download "a" watched, and asked about once, the tracker answering ``answer``."""
    rec = failed("a")
    manager, clock = FakeManager({rec.key: rec}, answer=answer), Clock()
    auto = resumer(manager, clock)
    await auto.check("bob")
    clock.now += 5.0
    await auto.check("bob")
    return manager, clock, auto


async def test_no_tracker_means_ask_again_and_an_ended_access_means_stop() -> None:
    manager, clock, auto = await _asked_once(Unavailable("no tracker answers"))
    assert manager.asked == ["a"] and manager.stopped == {}
    manager.answer = Forbidden("you are not a member of g")
    clock.now += 10.0
    await auto.check("bob")
    assert manager.stopped == {"a": "you are not a member of g"}


async def test_a_file_taken_off_the_list_is_watched_on_and_resumes_once_a_member_shares_it_again() -> None:
    manager, clock, auto = await _asked_once(NotFound("no file named a in g"))
    assert manager.asked == ["a"] and manager.stopped == {} and manager.started == []
    manager.answer = 1  # shared again
    clock.now += 10.0
    await auto.check("bob")
    assert manager.started == ["a"] and manager.stopped == {}


async def test_a_destination_taken_meanwhile_stops_the_watching_with_the_reason() -> None:
    rec = failed("a")
    manager, clock = FakeManager({rec.key: rec}, answer=2, start_error=Conflict("/dl/a already exists")), Clock()
    auto = resumer(manager, clock)
    await auto.check("bob")  # seen failed: the first question in 5 s
    clock.now += 5.0
    await auto.check("bob")
    assert manager.stopped == {"a": "/dl/a already exists"} and manager.started == []


async def test_a_file_whose_content_changed_under_its_name_is_not_resumed() -> None:
    meta = FileMeta("a", 10, 16384, "aa" * 32, (bytes.fromhex("aa" * 32),))
    rec = failed("a").with_(meta=meta)
    manager, clock = FakeManager({rec.key: rec}, answer=2), Clock()
    changed = FileMeta("a", 12, 16384, "bb" * 32, (bytes.fromhex("bb" * 32),))

    async def other_content(group_id: str, file_name: str) -> tuple[FileMeta, SwarmSnapshot]:
        return changed, SwarmSnapshot("token", [SeederInfo("u", "127.0.0.1", 1000, "", None)])

    manager.fetch_swarm = other_content  # type: ignore[method-assign,assignment]
    auto = resumer(manager, clock)
    await auto.check("bob")
    clock.now += 5.0
    await auto.check("bob")
    assert manager.started == []
    assert manager.stopped["a"].startswith("the group's a is another file now")


async def test_a_download_removed_while_the_tracker_is_asked_stays_removed(tmp_path: Path) -> None:
    state = NodeState(tmp_path / "data")
    state.load()
    meta = FileMeta("a.bin", 10, 16384, "aa" * 32, (bytes.fromhex("aa" * 32),))
    dest = tmp_path / "dl"
    dest.mkdir()
    rec = DownloadRecord("bob", "g", "a.bin", str(dest / "a.bin"), "F", meta, resume_when_seeded=True)
    await state.put_download(rec)

    async def nothing(*_: object) -> None:
        return None

    manager = DownloadManager(state, cast(TrackerClient, None), ServedFiles(), no_peer_timeout=5,
                              on_complete=nothing, on_change=lambda: None)

    async def removed_meanwhile(group_id: str, file_name: str) -> tuple[FileMeta, SwarmSnapshot]:
        await state.drop_download(rec.key)  # the user's remove_download, while the tracker was asked
        return meta, SwarmSnapshot("token", [])

    manager.fetch_swarm = removed_meanwhile  # type: ignore[method-assign]
    with pytest.raises(NotFound, match="changed meanwhile"):
        await manager.start("bob", "g", "a.bin", rec.destination, resuming=rec)
    assert state.downloads == {}  # not started afresh behind the user's back
