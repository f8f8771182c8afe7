"""A snapshot bigger than a message may be goes in parts, over real HTTP between two trackers of one process, with
the caps lowered: it installs whole and equal to the primary's; a transfer cut short (the primary gone, a part
refused, a disk full, a part out of order) leaves the secondary's old state whole, and the next one installs.
(snapshot_read.py and snapshot_stage.py say why and how.)"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import json
import sqlite3
import threading
import time
import weakref
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from tracker_server import internal, state_rows, store
from tracker_server.app import create_app
from tracker_server.catch_up import SNAPSHOT_PART
from tracker_server.cluster_auth import cluster_key, sign
from tracker_server.cluster_link import NoSuchRoute
from tracker_server.keys import COMPACTOR, REPLICATOR, SERVICE, STORE
from tracker_server.replication import Replicator
from tracker_server.snapshot_pace import SnapshotPace
from tracker_server.snapshot_stage import stage_path
from tracker_server.state import Entry
from tracker_server.store import Store
from wire.tracker_list import TrackerAddress

from .helpers import SECRET, Api, Clock, make_config
from .snapshot_pair import same_after_install
from .test_rules import file_body

CAP = 64 << 10  # the secondary's message cap, lowered from 512 MiB
PART = 24 << 10  # a part, lowered from 64 MiB: a file's row (256 piece hashes, 16 KB of hex) still fits one


@pytest.fixture
async def pair(api: Api, aiohttp_client: Any, tmp_path: Path,
               monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[tuple[Api, TestClient[Any, Any]]]:
    """The ``api`` tracker (tracker 1, primary) with a state of more than ``CAP`` in its tables, and tracker 2 (a
    secondary, empty but for an entry a snapshot must drop) that tracker 1 sends to over HTTP."""
    monkeypatch.setattr(internal, "MAX_INTERNAL_BODY", CAP)
    monkeypatch.setattr(store, "SNAPSHOT_PART_BYTES", PART)
    owner = await api.user("owner")
    for i in range(8):
        await api.ok("POST", "/api/v1/users", {"user_id": f"u{i}", "password": "pw-long-enough"}, want=201)
    await api.ok("POST", "/api/v1/groups", {"group_id": "g"}, owner, want=201)
    for i in range(8):
        await api.ok("POST", "/api/v1/groups/g/files", file_body(f"f{i}", size=256 * 16384), owner, want=201)
    dumped = await api.client.app[STORE].dump()
    tables = {t: rows for t, rows in dumped.items() if t not in ("log", "log_start")}
    assert len(json.dumps(tables)) > CAP  # the state tables alone: one message could not hold them

    trackers = (TrackerAddress("127.0.0.1", 1, 1), TrackerAddress("127.0.0.1", 2, 2))
    config = dataclasses.replace(make_config(tmp_path / "second", Clock()), trackers=trackers, tracker_no=2)
    second = await aiohttp_client(create_app(config))
    await second.app[STORE].append([_doomed()])
    rep: Replicator = api.client.app[REPLICATOR]
    rep.link.cfg = dataclasses.replace(rep.link.cfg, trackers=(trackers[0], dataclasses.replace(
        trackers[1], port=second.server.port)))
    yield api, second


def _doomed() -> Entry:
    return Entry(1, 1, "doomed", {"t": "create_user", "u": "zed", "h": "x"}, {})


async def _level(api: Api, second: TestClient[Any, Any]) -> None:
    """Tracker 2's tables and its state in memory are tracker 1's."""
    theirs = await same_after_install(api.client.app[STORE], second.app[STORE])
    live = second.app[SERVICE].state
    mine = api.client.app[SERVICE].state
    assert (live.users, live.groups, live.index, live.results) == (theirs.users, theirs.groups, theirs.index,
                                                                   theirs.results)
    assert (live.users, live.groups, live.index) == (mine.users, mine.groups, mine.index)
    assert not stage_path(second.app[STORE].path or Path()).exists()  # the parts' file is gone once installed


async def _untouched(second: TestClient[Any, Any], digest: str) -> None:
    """Tracker 2 holds its old state, on disk and in memory."""
    assert await second.app[STORE].digest() == digest
    assert set(second.app[SERVICE].state.results) == {"doomed"} or second.app[SERVICE].state.index == 0
    assert "u0" not in second.app[SERVICE].state.users


def _sent_parts(rep: Replicator, monkeypatch: pytest.MonkeyPatch, fail_at: int | None = None,
                cap: int = CAP) -> list[str]:
    """The routes of the messages sent, as they go; the one numbered ``fail_at`` fails as a dead primary's would."""
    sent: list[str] = []
    real = functools.partial(type(rep.link).post_raw, rep.link)  # not a wrapper of an earlier call's

    async def post_raw(no: int, path: str, raw: bytes | bytearray, limit_s: float | None = None) -> dict[str, Any]:
        assert len(raw) <= cap
        sent.append(path)
        if len(sent) - 1 == fail_at:
            raise ConnectionResetError("the primary died mid-way")
        return await real(no, path, raw, limit_s)

    monkeypatch.setattr(rep.link, "post_raw", post_raw)
    return sent


def _pace_over(rep: Replicator) -> None:
    rep.snapshot_pace = SnapshotPace(rep.cfg.tracker_timeout, 64 * rep.cfg.tracker_timeout)


async def test_a_state_bigger_than_a_message_goes_in_parts_and_installs_whole(
        pair: tuple[Api, TestClient[Any, Any]], monkeypatch: pytest.MonkeyPatch) -> None:
    api, second = pair
    rep: Replicator = api.client.app[REPLICATOR]
    sent = _sent_parts(rep, monkeypatch)
    await rep._send_snapshot(2)
    assert len(sent) > 3 and set(sent) == {SNAPSHOT_PART}
    await _level(api, second)

    # And again over a state already installed (the parts of a second transfer replace it all the same).
    await api.ok("POST", "/api/v1/users", {"user_id": "later", "password": "pw-long-enough"}, want=201)
    await rep._send_snapshot(2)
    await _level(api, second)
    assert "later" in second.app[SERVICE].state.users


async def test_a_snapshot_that_fits_one_part_goes_whole_as_before(
        pair: tuple[Api, TestClient[Any, Any]], monkeypatch: pytest.MonkeyPatch) -> None:
    """The route a tracker of the previous release has: it takes any snapshot that fits one part."""
    api, second = pair
    rep: Replicator = api.client.app[REPLICATOR]
    monkeypatch.setattr(internal, "MAX_INTERNAL_BODY", 512 << 20)
    monkeypatch.setattr(store, "SNAPSHOT_PART_BYTES", 64 << 20)
    sent = _sent_parts(rep, monkeypatch, cap=512 << 20)
    await rep._send_snapshot(2)
    assert sent == ["/internal/v1/snapshot"]
    await _level(api, second)


@pytest.mark.parametrize("fail_at", [0, 1, 3])
async def test_a_primary_gone_mid_way_leaves_the_old_state_and_the_next_transfer_installs(
        pair: tuple[Api, TestClient[Any, Any]], monkeypatch: pytest.MonkeyPatch, fail_at: int) -> None:
    api, second = pair
    rep: Replicator = api.client.app[REPLICATOR]
    before = await second.app[STORE].digest()
    sent = _sent_parts(rep, monkeypatch, fail_at)
    with pytest.raises(ConnectionResetError):
        await rep._send_snapshot(2)
    assert len(sent) == fail_at + 1 and rep.snapshot_pace.left(2, 0.0) > 0  # paced: retried after a wait
    await _untouched(second, before)

    _pace_over(rep)
    sent.clear()
    _sent_parts(rep, monkeypatch)  # the primary back: the next transfer starts from its first part
    await rep._send_snapshot(2)
    await _level(api, second)


async def test_a_part_the_secondary_cannot_store_ends_the_transfer_and_the_old_state_stays(
        pair: tuple[Api, TestClient[Any, Any]], monkeypatch: pytest.MonkeyPatch) -> None:
    api, second = pair
    rep: Replicator = api.client.app[REPLICATOR]
    secondary_store: Store = second.app[STORE]
    before = await secondary_store.digest()
    real_stage = secondary_store.stage
    staged: list[int] = []

    async def stage(part: dict[str, list[list[Any]]]) -> None:
        staged.append(1)
        if len(staged) == 3:
            raise sqlite3.OperationalError("database or disk is full")
        await real_stage(part)

    monkeypatch.setattr(secondary_store, "stage", stage)
    with pytest.raises(ValueError, match="cannot store"):
        await rep._send_snapshot(2)
    await _untouched(second, before)
    assert not stage_path(secondary_store.path or Path()).exists()  # its disk space given back at once

    # The install itself failing (the last part in, the tables' replacement rolled back) leaves it all too.
    monkeypatch.setattr(secondary_store, "stage", real_stage)
    monkeypatch.setattr(secondary_store, "_install", _failing_install(secondary_store))
    _pace_over(rep)
    with pytest.raises(ValueError, match="cannot store"):
        await rep._send_snapshot(2)
    await _untouched(second, before)

    monkeypatch.undo()
    monkeypatch.setattr(internal, "MAX_INTERNAL_BODY", CAP)
    monkeypatch.setattr(store, "SNAPSHOT_PART_BYTES", PART)
    _pace_over(rep)
    await rep._send_snapshot(2)
    await _level(api, second)


def _failing_install(target: Store) -> Any:
    """``Store._install`` that fills every table, then fails before its commit (a full disk): rolled back."""
    real = target._install

    async def _install(fill: Any, start: list[list[int]], epoch: int) -> None:
        async def fill_then_fail(table: str) -> None:
            await fill(table)
            if table == "log":
                raise sqlite3.OperationalError("database or disk is full")

        await real(fill_then_fail, start, epoch)

    return _install


async def test_a_part_out_of_order_or_of_another_transfer_is_refused_and_nothing_is_installed(
        pair: tuple[Api, TestClient[Any, Any]], monkeypatch: pytest.MonkeyPatch) -> None:
    api, second = pair
    before = await second.app[STORE].digest()
    bodies = await _parts(api)
    assert len(bodies) > 3

    async def post(body: bytes) -> dict[str, Any]:
        return await _post_part(second, body)

    assert (await post(bodies[0]))["ok"] is True
    assert (await post(bodies[2]))["ok"] is False  # part 1 skipped: the transfer is over
    assert (await post(bodies[1]))["ok"] is False  # and does not go on
    assert (await post(bodies[-1]))["ok"] is False  # nor is its last part installed
    other = bodies[1].replace(b'"transfer":"t1"', b'"transfer":"t2"')
    assert (await post(bodies[0]))["ok"] is True and (await post(other))["ok"] is False  # another transfer's part
    await _untouched(second, before)
    for body in bodies:  # all in order: installed
        assert (await post(body))["ok"] is True
    await _level(api, second)


class _Probe:
    """An object put into the secondary's state, to see where it is freed when the state is replaced."""


async def test_the_state_replaced_by_a_snapshot_is_freed_off_the_event_loop(
        pair: tuple[Api, TestClient[Any, Any]]) -> None:
    """Dropped at once on the loop, a state of 20,000 shares was one deallocation of 30 ms and more with the loop
    stopped (bench/snapshot_stall.py): it is emptied in steps in a worker thread instead."""
    api, second = pair
    freed_in: list[str] = []
    probe = _Probe()
    weakref.finalize(probe, lambda: freed_in.append(threading.current_thread().name))
    second.app[SERVICE].state.results["probe"] = (probe, {})  # any object will do
    del probe
    await api.client.app[REPLICATOR]._send_snapshot(2)
    await _level(api, second)
    assert len(freed_in) == 1 and freed_in[0] != threading.main_thread().name


async def test_while_the_state_is_rebuilt_the_secondary_serves_from_the_old_one_then_swaps_at_once(
        pair: tuple[Api, TestClient[Any, Any]], monkeypatch: pytest.MonkeyPatch) -> None:
    """The rebuild waits in the middle of its work (in its worker thread) until the secondary has answered a
    request from its event loop: meanwhile it holds the old state, whole, not a half-built one."""
    api, second = pair
    old = second.app[SERVICE].state
    old_users = dict(old.users)
    building, answered = threading.Event(), threading.Event()
    real_build = state_rows.build_state

    def build_state(rows: state_rows.StateRows) -> Any:
        building.set()
        answered.wait(timeout=10)  # bounded: a loop held here must still let the test end, and fail
        return real_build(rows)

    monkeypatch.setattr(state_rows, "build_state", build_state)
    sending = asyncio.create_task(api.client.app[REPLICATOR]._send_snapshot(2))
    try:
        deadline = asyncio.get_running_loop().time() + 30
        while not building.is_set():
            assert asyncio.get_running_loop().time() < deadline, "the rebuild never started"
            await asyncio.sleep(0.01)
        assert (await second.get("/healthz")).status == 200
        assert second.app[SERVICE].state is old and old.users == old_users and "u0" not in old.users
        answered.set()
        await sending
    finally:
        answered.set()
        sending.cancel()
        await asyncio.gather(sending, return_exceptions=True)
    assert second.app[SERVICE].state is not old
    await _level(api, second)


async def _parts(api: Api) -> list[bytes]:
    """The messages of a transfer ``t1`` of tracker 1's snapshot, in parts."""
    epoch = api.client.app[REPLICATOR].svc.state.epoch
    bodies: list[bytes] = []
    async with contextlib.aclosing(api.client.app[STORE].snapshot_parts(
            lambda n: b'{"epoch":%d,"from":1,"transfer":"t1","part":%d,"snapshot":' % (epoch, n),
            lambda last: b',"last":%s}' % (b"true" if last else b"false"))) as parts:
        async for body, _ in parts:
            bodies.append(bytes(body))
    return bodies


async def _post_part(second: TestClient[Any, Any], body: bytes) -> dict[str, Any]:
    headers = {"Content-Type": "application/json", **sign(cluster_key(SECRET), "POST", SNAPSHOT_PART, 1, body,
                                                          time.time())}
    resp = await second.post(SNAPSHOT_PART, data=body, headers=headers)
    assert resp.status == 200
    return dict(await resp.json())


async def test_a_whole_snapshot_ends_a_transfer_in_parts_under_way(
        pair: tuple[Api, TestClient[Any, Any]], monkeypatch: pytest.MonkeyPatch) -> None:
    api, second = pair
    bodies = await _parts(api)
    assert (await _post_part(second, bodies[0]))["ok"] is True
    assert stage_path(second.app[STORE].path or Path()).exists()
    monkeypatch.setattr(internal, "MAX_INTERNAL_BODY", 512 << 20)
    monkeypatch.setattr(store, "SNAPSHOT_PART_BYTES", 64 << 20)
    await api.client.app[REPLICATOR]._send_snapshot(2)  # one message, to the whole route
    await _level(api, second)  # the parts' file dropped with the transfer
    assert (await _post_part(second, bodies[1]))["ok"] is False


async def test_the_state_loaded_at_start_is_freed_once_replaced(api: Api) -> None:
    """app.py's start-up kept its own reference to the state it loaded for the app's lifetime: after a reload from
    SQLite (a failed write, a deposed primary), a whole state's memory was held twice."""
    svc = api.client.app[SERVICE]
    # The compaction round the app starts with holds the state in a local while it waits on the store: after a
    # round of ours (its lock is FIFO: the start's is over first), the loop sleeps and holds nothing.
    await api.client.app[COMPACTOR].run_once()
    freed: list[bool] = []
    probe = _Probe()
    weakref.finalize(probe, lambda: freed.append(True))
    svc.state.results["probe"] = (probe, {})  # any object will do
    del probe
    svc.replace_state(await api.client.app[STORE].load_state())
    assert freed == [True]


async def test_a_secondary_without_the_part_route_is_named_and_paced(
        pair: tuple[Api, TestClient[Any, Any]], aiohttp_client: Any, caplog: pytest.LogCaptureFixture) -> None:
    """A tracker of the previous release answers 404 to the part route: the operator is told to upgrade it."""
    api, _ = pair
    old = await aiohttp_client(web.Application())  # no routes at all: 404 to everything
    rep: Replicator = api.client.app[REPLICATOR]
    rep.link.cfg = dataclasses.replace(rep.link.cfg, trackers=(rep.link.cfg.trackers[0], dataclasses.replace(
        rep.link.cfg.trackers[1], port=old.server.port)))
    with pytest.raises(NoSuchRoute):
        await rep._send_snapshot(2)
    assert rep.snapshot_pace.left(2, 0.0) > 0
    assert "tracker 2 cannot take a snapshot in parts: it has no /internal/v1/snapshot_part route" in caplog.text
