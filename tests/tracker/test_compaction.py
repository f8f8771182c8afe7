"""Log compaction: what the windows keep and what they delete, retries inside the window, a restart and a snapshot
after compaction, and the space given back (one tracker, real SQLite, a clock moved by hand)."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest

from tracker_server import compaction
from tracker_server.app import create_app
from tracker_server.cluster_auth import cluster_key, sign
from tracker_server.compaction import Compactor, cut, marks_to_drop
from tracker_server.keys import COMPACTOR, REPLICATOR, SERVICE, STORE
from tracker_server.state import Entry
from tracker_server.store import Store
from wire.tracker_list import TrackerAddress

from .helpers import SECRET, Api, Clock, make_config

WINDOW_S = 600.0


@pytest.fixture
def start(aiohttp_client: Any, tmp_path: Path, clock: Clock) -> Any:
    """Start (or restart, on the same data dir) a tracker whose compaction windows are ``keep`` entries and
    ``WINDOW_S`` seconds; its own loop runs once at start and then not for an hour (the tests run rounds)."""

    async def make(keep: int, window: float = WINDOW_S) -> Api:
        config = dataclasses.replace(make_config(tmp_path / "data", clock), log_keep_entries=keep,
                                     log_keep_seconds=window, compact_every=3600.0)
        return Api(await aiohttp_client(create_app(config)))

    return make


def _compactor(api: Api) -> Compactor:
    compactor: Compactor = api.client.app[COMPACTOR]
    return compactor


async def _log_indexes(api: Api) -> list[int]:
    return [e.index for e in await api.client.app[STORE].entries_after(0, 1_000_000)]


async def _users(api: Api, prefix: str, count: int) -> None:
    for i in range(count):
        await api.ok("POST", "/api/v1/users", {"user_id": f"{prefix}{i}", "password": "pw-long-enough",
                                               "op_id": f"op-{prefix}{i}"}, want=201)


def test_an_entry_is_deletable_only_outside_both_windows_and_once_committed() -> None:
    marks = [(100.0, 10), (200.0, 50), (300.0, 80)]  # (when, the log's newest index then)
    assert cut(90, 20, marks, now=350.0, keep_seconds=100.0, committed=90) == 50  # the time window binds
    assert cut(90, 60, marks, now=350.0, keep_seconds=100.0, committed=90) == 30  # the entries window binds
    assert cut(90, 0, marks, now=150.0, keep_seconds=100.0, committed=90) == 0  # nothing is old enough
    assert cut(90, 0, marks, now=999.0, keep_seconds=100.0, committed=40) == 40  # never past what is committed
    assert marks_to_drop(marks, now=350.0, keep_seconds=100.0) == 200.0  # the newest aged mark stays


async def test_compaction_keeps_both_windows_deletes_the_rest_and_a_retry_inside_gets_its_first_answer(
        start: Any, clock: Clock) -> None:
    api = await start(keep=5)
    await _users(api, "old", 10)
    await _compactor(api).run_once()  # marks where the log stands now; nothing is old enough yet
    old_end = (await _log_indexes(api))[-1]
    assert (await _log_indexes(api))[0] == 1
    clock.advance(WINDOW_S + 1)
    await _users(api, "new", 10)
    first = await api.ok("POST", "/api/v1/sessions", {"user_id": "new0", "password": "pw-long-enough",
                                                      "peer_addr": "127.0.0.1:7000", "op_id": "op-login"})
    newest = (await _log_indexes(api))[-1]

    done = await _compactor(api).run_once()

    # Older than the time window: gone. Younger (the last WINDOW_S seconds): all kept, past the 5 newest.
    assert done.compacted_to == old_end and await _log_indexes(api) == list(range(old_end + 1, newest + 1))
    store = api.client.app[STORE]
    assert await store.compaction_point() == (old_end, api.client.app[SERVICE].state.epoch)
    results = api.client.app[SERVICE].state.results
    assert "op-old0" not in results and "op-new0" in results  # memory forgets what the log forgot
    again = await api.ok("POST", "/api/v1/sessions", {"user_id": "new0", "password": "pw-long-enough",
                                                      "peer_addr": "127.0.0.1:7000", "op_id": "op-login"})
    assert again["session"] == first["session"] and (await _log_indexes(api))[-1] == newest
    # Out of the window, an op_id is a new request: decided again (the user exists: 409), not answered 201.
    status, _ = await api.call("POST", "/api/v1/users", {"user_id": "old0", "password": "pw-long-enough",
                                                         "op_id": "op-old0"})
    assert status == 409

    clock.advance(WINDOW_S + 1)
    await _compactor(api).run_once()  # a mark of the newest index now
    clock.advance(WINDOW_S + 1)
    await _compactor(api).run_once()  # ...aged: the entries window alone binds
    indexes = await _log_indexes(api)
    assert len(indexes) == 5 and indexes[-1] == api.client.app[SERVICE].state.index
    assert await store.free_pages() == 0  # freed pages went back to the file system


async def test_a_tracker_whose_log_was_compacted_away_restarts_at_its_position_and_serves(
        start: Any, clock: Clock) -> None:
    api = await start(keep=0, window=0.0)
    token = await api.user("alice")
    await api.ok("POST", "/api/v1/groups", {"group_id": "g"}, token, want=201)
    before = api.client.app[SERVICE].state
    position = (before.index, before.last_epoch)
    await _compactor(api).run_once()
    assert await _log_indexes(api) == []  # every entry deleted: only the compaction point names the position
    await api.client.close()

    api = await start(keep=0, window=0.0)
    state = api.client.app[SERVICE].state
    assert (state.index, state.last_epoch) == position and state.epoch >= position[1]
    health = await api.ok("GET", "/healthz")
    assert health["log_index"] == position[0]
    assert [g["group_id"] for g in (await api.ok("GET", "/api/v1/groups", None, token))["groups"]] == ["g"]
    token = await api.login("alice")  # a write: the next index, after the compaction point
    await api.ok("POST", "/api/v1/groups", {"group_id": "h"}, token, want=201)
    assert (await _log_indexes(api))[0] == position[0] + 1


async def test_a_snapshot_of_a_compacted_log_carries_its_starting_point(start: Any, tmp_path: Path) -> None:
    api = await start(keep=2, window=0.0)
    await _users(api, "u", 6)
    await _compactor(api).run_once()
    source: Store = api.client.app[STORE]
    point = await source.compaction_point()
    assert point[0] > 0
    other = await Store.open(tmp_path / "other" / "tracker.sqlite3")
    try:
        await other.append([Entry(1, 1, "doomed", {"t": "create_user", "u": "zed", "h": "x"}, {})])
        before_install = other.installs  # a compaction round of the log about to be replaced reads this...
        await other.install(await source.dump(), epoch=9)
        # ...and decided on that log, deletes and marks nothing in the one installed
        assert await other.compact(10**9, 100, 1 << 20, before_install) == []
        await other.add_mark(0.0, 10**9, before_install)
        assert await other.digest() == await source.digest()
        mine, theirs = await source.load_state(), await other.load_state()
        assert (theirs.index, theirs.last_epoch, theirs.results) == (mine.index, mine.last_epoch, mine.results)
        assert await other.compaction_point() == point
        assert await other.position_at(point[0]) == point[1]  # log matching at the boundary
        assert await other.position_at(point[0] - 1) is None  # compacted: no longer shown to match
        assert await other.marks() == []  # the ages of the entries it brought are unknown here
    finally:
        await other.close()


async def test_a_database_made_before_compaction_is_converted_to_incremental_vacuum(tmp_path: Path) -> None:
    path = tmp_path / "old" / "tracker.sqlite3"
    path.parent.mkdir()
    with sqlite3.connect(path) as conn:  # as older versions made it: auto_vacuum off
        conn.execute("CREATE TABLE log (idx INTEGER PRIMARY KEY, epoch INTEGER NOT NULL, op_id TEXT NOT NULL "
                     "UNIQUE, op TEXT NOT NULL, result TEXT NOT NULL)")
        assert conn.execute("PRAGMA auto_vacuum").fetchone()[0] == 0
    store = await Store.open(path)
    await store.close()
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA auto_vacuum").fetchone()[0] == 2


async def test_a_secondary_whose_log_ends_before_the_compaction_point_is_sent_a_snapshot_not_a_gap(
        start: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    api = await start(keep=2, window=0.0)
    await _users(api, "u", 6)
    await _compactor(api).run_once()
    rep = api.client.app[REPLICATOR]
    point = await rep.store.compaction_point()
    sent: list[tuple[int, int]] = []  # (prev index, first index) of each batch
    snapshots: list[int] = []

    async def append_to(no: int, entries: list[Entry], prev: tuple[int, int], head: int | None = None) -> Any:
        if not entries:  # asked where its log ends: where the position said (it is really there)
            return {"ok": True, "last_index": prev[0], "last_epoch": prev[1]}
        sent.append((prev[0], entries[0].index))
        return {"ok": True, "last_index": entries[-1].index, "last_epoch": entries[-1].epoch}

    async def send_snapshot(no: int) -> None:
        snapshots.append(no)

    monkeypatch.setattr(rep, "_append_to", append_to)
    monkeypatch.setattr(rep, "_send_snapshot", send_snapshot)
    for position in ((0, 0), (point[0] - 1, point[1])):  # an empty log; one ending before the point
        await rep._catch_up(2, *position)
    assert snapshots == [2, 2] and sent == []
    await rep._catch_up(2, *point)  # one ending at the point matches: copied from there
    assert sent == [(point[0], point[0] + 1)] and snapshots == [2, 2]


async def test_a_pings_position_below_the_compaction_point_is_asked_again_before_a_whole_snapshot_is_sent(
        start: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """A secondary answers pings while it installs a snapshot, with the position of the log it is replacing: one
    such answer taken after the install would have the primary send a second snapshot to a tracker already level."""
    api = await start(keep=2, window=0.0)
    await _users(api, "u", 6)
    await _compactor(api).run_once()
    rep = api.client.app[REPLICATOR]
    point = await rep.store.compaction_point()
    level = rep.writer.durable  # where the secondary really is: the snapshot brought it there
    asked: list[tuple[tuple[int, int], int]] = []  # (prev, how many entries) of each append
    snapshots: list[int] = []

    async def append_to(no: int, entries: list[Entry], prev: tuple[int, int], head: int | None = None) -> Any:
        asked.append((prev, len(entries)))
        return {"ok": prev == level and not entries, "last_index": level[0], "last_epoch": level[1]}

    async def send_snapshot(no: int) -> None:
        snapshots.append(no)

    monkeypatch.setattr(rep, "_append_to", append_to)
    monkeypatch.setattr(rep, "_send_snapshot", send_snapshot)
    stale = (point[0] - 1, point[1])  # the ping's, from before the install: compacted away here
    await rep._catch_up(2, *stale)
    assert snapshots == [] and asked == [(stale, 0)]
    # A secondary that really is there, asked, says so: it gets its snapshot.
    level = stale
    await rep._catch_up(2, *stale)
    assert snapshots == [2] and asked[1:] == [(stale, 0)]


async def test_a_secondary_refuses_entries_that_do_not_follow_the_previous_one(aiohttp_client: Any,
                                                                              tmp_path: Path) -> None:
    config = dataclasses.replace(make_config(tmp_path, Clock()),
                                 trackers=(TrackerAddress("127.0.0.1", 1, 1), TrackerAddress("127.0.0.1", 2, 2)))
    client = await aiohttp_client(create_app(config))
    state = client.app[SERVICE].state
    op = {"t": "create_user", "u": "zed", "h": "x", "rq": "r"}
    body = json.dumps({"epoch": state.epoch, "prev_index": state.index, "prev_epoch": state.last_epoch,
                       "entries": [Entry(state.epoch, state.index + 5, "gap", op, {}).to_json()]}).encode()
    headers = {"Content-Type": "application/json",
               **sign(cluster_key(SECRET), "POST", "/internal/v1/append", 2, body, time.time())}
    resp = await client.post("/internal/v1/append", data=body, headers=headers)
    assert resp.status == 200 and (await resp.json())["ok"] is False
    assert await client.app[STORE].entries_after(0) == [] and "zed" not in client.app[SERVICE].state.users


async def test_a_compaction_round_copies_its_wal_into_the_database_itself_without_holding_the_store(
        start: Any, clock: Clock, monkeypatch: pytest.MonkeyPatch) -> None:
    """Left to SQLite's automatic checkpoint, the copy of what compaction wrote falls on a client's write."""
    api = await start(keep=0, window=0.0)
    await _users(api, "u", 4)
    store: Store = api.client.app[STORE]
    monkeypatch.setattr("tracker_server.compaction.BATCH", 1)
    transactions: list[str] = []
    checkpoints: list[tuple[int, bool]] = []  # (transactions before it, whether the store was held meanwhile)
    real_compact, real_checkpoint = store.compact, store.checkpoint

    async def compact(upto: int, batch: int, most_bytes: int, installs: int) -> list[str]:
        done = await real_compact(upto, batch, most_bytes, installs)
        if done:
            transactions.append("compact")
        return done

    async def checkpoint() -> None:
        checkpoints.append((len(transactions), store._tx.locked()))
        await real_checkpoint()

    monkeypatch.setattr(store, "compact", compact)
    monkeypatch.setattr(store, "checkpoint", checkpoint)
    await _compactor(api).run_once()
    assert len(transactions) >= 3  # the log deleted in several batches...
    assert [n for n, _ in checkpoints][:len(transactions)] == list(range(1, len(transactions) + 1))  # ...each copied
    assert not any(held for _, held in checkpoints)


async def test_a_compaction_transaction_deletes_about_batch_bytes_of_big_entries_not_a_whole_batch(
        start: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The time a delete holds the store (and every write waiting for it) grows with the bytes it frees: a batch of
    100 shares of 15,000 pieces (1 MB ops) held it for 0.4-0.5 s."""
    api = await start(keep=0, window=0.0)
    token = await api.user("alice")
    await api.ok("POST", "/api/v1/groups", {"group_id": "g"}, token, want=201)
    pieces = 8_000  # a 540 KB op each
    for k in range(4):
        sha = f"{k:064x}"
        await api.ok("POST", "/api/v1/groups/g/files", {
            "file_name": f"f{k}", "size": pieces * 16384, "piece_size": 16384, "sha256": sha,
            "piece_hashes": [f"{k:032x}{j:032x}" for j in range(pieces - 1)] + [sha]}, token, want=201)
    store: Store = api.client.app[STORE]
    sizes = {e.op_id: len(json.dumps(e.op, separators=(",", ":"))) + len(json.dumps(e.result))
             for e in await store.entries_after(0, 1_000_000)}  # as stored, give or take a result's spaces
    transactions: list[list[int]] = []  # the op sizes each compaction transaction deleted, oldest first
    real_compact = store.compact

    async def compact(*args: Any) -> list[str]:
        done = await real_compact(*args)
        if done:
            transactions.append([sizes[op_id] for op_id in done])
        return done

    monkeypatch.setattr(store, "compact", compact)
    await _compactor(api).run_once()
    assert await _log_indexes(api) == [] and sum(map(len, transactions)) == len(sizes)
    assert len(transactions) >= 2
    # Each stops at the entry that brings it to BATCH_BYTES: whatever came before that one stayed under it.
    assert all(sum(deleted[:-1]) < compaction.BATCH_BYTES for deleted in transactions)


async def test_rounds_failing_on_a_full_disk_are_said_in_one_line_at_most_every_few_minutes(
        start: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    api = await start(keep=10)
    looping = Compactor(dataclasses.replace(api.client.app[COMPACTOR].cfg, compact_every=0.001),
                        api.client.app[STORE], api.client.app[SERVICE], api.client.app[REPLICATOR].writer)
    rounds: list[int] = []

    async def full_disk() -> compaction.RoundResult:
        rounds.append(1)
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(looping, "run_once", full_disk)
    caplog.set_level("INFO", logger="tracker_server.compaction")
    looping.start()
    try:
        deadline = time.monotonic() + 30
        while len(rounds) < 5:  # five rounds failed, within far less than the quota's minutes
            assert time.monotonic() < deadline, "the compaction loop did not go on after a failed round"
            await asyncio.sleep(0.01)
    finally:
        await looping.stop()
    said = [r for r in caplog.records if r.name == "tracker_server.compaction"]
    assert [(r.levelname, r.exc_info) for r in said] == [("ERROR", None)]
    assert "log compaction round failed: database or disk is full" in said[0].getMessage()

    # Minutes later, still failing: said again, with the count of the rounds not said; a success ends the run.
    caplog.clear()
    error = sqlite3.OperationalError("database or disk is full")
    looping.round_failed(error, now=time.monotonic() + compaction.FAILURE_LOG_EVERY_S + 1)
    looping.round_done()
    looping.round_failed(error, now=time.monotonic() + compaction.FAILURE_LOG_EVERY_S + 2)  # news again: said
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 3 and f"{len(rounds) - 1} more rounds failed" in lines[0]
    assert lines[1] == "log compaction rounds succeed again" and "more rounds" not in lines[2]
