"""A lagging secondary is copied the entries it lacks, from its true position, and says so in its log; only a
history the primary does not share calls for a snapshot."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tracker_server.catch_up import Deposed
from tracker_server.catch_up_log import CatchUpLog
from tracker_server.keys import REPLICATOR
from tracker_server.replication import Replicator
from tracker_server.state import Entry

from .helpers import Api


def test_a_catch_up_in_several_batches_logs_its_start_and_its_end_once() -> None:
    notes = CatchUpLog()
    assert notes.applied(1, 500, 1200, 500) == "copying the log from tracker 1: 500 entries stored, now at log " \
                                               "index 500 of 1200"
    assert notes.applied(1, 1000, 1200, 500) is None
    assert notes.applied(1, 1200, 1200, 200) == "copied the log from tracker 1: level with it at log index 1200"
    assert notes.applied(1, 1201, None, 1) is None  # a live write says nothing


def test_a_catch_up_in_one_batch_names_how_many_entries_were_missing() -> None:
    assert CatchUpLog().applied(2, 40, 40, 7) == "copied 7 missing entries from tracker 2: level with it at log " \
                                                 "index 40"


def test_a_snapshot_ends_a_copy_and_says_what_it_brought() -> None:
    notes = CatchUpLog()
    notes.applied(1, 10, 900, 10)
    assert notes.snapshot(1, 900, 3, 2) == "replaced this tracker's state with a snapshot from tracker 1: log " \
                                           "index 900, 3 users, 2 groups"
    assert notes.copying_from is None


class _Secondary:
    """Plays a secondary's append door: it holds our log up to ``held`` and refuses a batch whose ``prev`` is not
    its newest entry, answering its true position, as ``internal.append`` does."""

    def __init__(self, rep: Replicator, held: int, held_epoch: int | None = None) -> None:
        self.rep, self.held, self.held_epoch = rep, held, held_epoch  # held_epoch: a history other than ours
        self.batches: list[tuple[int, int, int | None]] = []  # (prev index, last index, head)
        self.probes: list[int] = []  # prev index of each append of nothing
        self.snapshots = 0

    async def append_to(self, no: int, entries: list[Entry], prev: tuple[int, int],
                        head: int | None = None) -> dict[str, Any]:
        held_entry = await self.rep.store.entry_at(self.held)
        epoch = self.held_epoch if self.held_epoch is not None else held_entry.epoch if held_entry else 0
        position = {"last_index": self.held, "last_epoch": epoch}
        if not entries:
            self.probes.append(prev[0])
            return {"ok": (prev[0], prev[1]) == (self.held, epoch), **position}
        self.batches.append((prev[0], entries[-1].index, head))
        if prev[0] != self.held:
            return {"ok": False, **position}
        self.held = entries[-1].index
        return {"ok": True, "last_index": self.held, "last_epoch": entries[-1].epoch}

    async def send_snapshot(self, no: int) -> None:
        self.snapshots += 1


async def _replicator_with_entries(api: Api, count: int, monkeypatch: pytest.MonkeyPatch,
                                   held: int) -> tuple[Replicator, _Secondary]:
    for i in range(count):
        await api.ok("POST", "/api/v1/users", {"user_id": f"u{i}", "password": "pw-long-enough"}, want=201)
    rep = api.client.app[REPLICATOR]
    secondary = _Secondary(rep, held)
    monkeypatch.setattr(rep, "_append_to", secondary.append_to)
    monkeypatch.setattr(rep, "_send_snapshot", secondary.send_snapshot)
    return rep, secondary


async def test_a_stale_starting_position_is_corrected_by_the_answer_not_by_a_snapshot(
        api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    # The ping said 2, but a push has since brought the secondary to 5: the first batch is refused with "5".
    rep, secondary = await _replicator_with_entries(api, 8, monkeypatch, held=5)
    start = await rep.store.entry_at(2)
    assert start is not None
    await rep._catch_up(2, 2, start.epoch)
    end = rep.writer.durable[0]
    assert secondary.snapshots == 0
    assert secondary.held == end
    assert secondary.batches == [(2, end, end), (5, end, end)]


async def test_a_position_our_log_does_not_hold_gets_a_snapshot(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    rep, secondary = await _replicator_with_entries(api, 3, monkeypatch, held=2)
    secondary.held_epoch = 99
    await rep._catch_up(2, 2, 99)  # entry 2 of epoch 99: a history we never wrote
    assert secondary.snapshots == 1 and secondary.batches == [] and secondary.probes == [2]


async def test_a_primary_that_hears_of_a_newer_epoch_during_a_catch_up_sends_nothing_under_that_epoch(
        api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    """A stepped-down primary's snapshot, sent under the epoch it just adopted, would be installed by the new
    primary's secondaries over the writes they committed with it."""
    for i in range(3):
        await api.ok("POST", "/api/v1/users", {"user_id": f"u{i}", "password": "pw-long-enough"}, want=201)
    rep: Replicator = api.client.app[REPLICATOR]
    newer = rep.svc.state.epoch + 1
    sent: list[tuple[str, int]] = []  # (route, epoch) of each message

    async def post(no: int, path: str, body: dict[str, Any], limit_s: float | None = None) -> dict[str, Any]:
        sent.append((path, body["epoch"]))  # a secondary of the new primary: it takes whatever comes under `newer`
        return {"ok": False, "epoch": body["epoch"], "last_index": 2, "last_epoch": 99}

    async def post_raw(no: int, path: str, raw: bytes | bytearray, limit_s: float | None = None) -> dict[str, Any]:
        return await post(no, path, json.loads(raw), limit_s)

    real_parts = rep.store.snapshot_parts

    async def snapshot_parts(*args: Any, **kwargs: Any) -> AsyncIterator[tuple[bytearray, bool]]:
        async with contextlib.aclosing(real_parts(*args, **kwargs)) as parts:
            async for part in parts:
                await rep.adopt_epoch(newer)  # heard by a ping while the part was read and encoded
                yield part

    monkeypatch.setattr(rep.link, "post", post)
    monkeypatch.setattr(rep.link, "post_raw", post_raw)
    monkeypatch.setattr(rep.store, "snapshot_parts", snapshot_parts)
    with pytest.raises(Deposed):
        await rep._catch_up(2, 2, 99)  # a history we do not share: a snapshot
    assert rep.svc.role == "secondary" and sent == [("/internal/v1/append", newer - 1)]  # the probe, before

    # Nor an append: the epoch heard between two batches of a copy.
    sent.clear()
    rep._become_primary_role()  # leads `newer` now; heard of one more while reading its log
    real_entries_after = rep.store.entries_after

    async def entries_after(index: int, limit: int = 1000) -> list[Entry]:
        await rep.adopt_epoch(newer + 1)
        return await real_entries_after(index, limit)

    monkeypatch.setattr(rep.store, "entries_after", entries_after)
    with pytest.raises(Deposed):
        await rep._catch_up(2, 0, 0, answered=True)
    assert sent == []
