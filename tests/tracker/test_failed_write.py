"""A write that fails to reach SQLite (a full disk) while others queue behind it: every caller gets an answer,
what was queued on the memory the reload threw away fails too (not written later with indexes past the log's, or
colliding with the next ones), the log stays without gaps, and retries land."""

from __future__ import annotations

import asyncio
import sqlite3

from tracker_server.keys import SERVICE, STORE, WRITER
from tracker_server.state import Entry, State

from .helpers import Api


async def test_writes_queued_behind_a_failed_one_fail_with_it_and_their_retries_land(api: Api) -> None:
    token = await api.user("alice")
    writer, store = api.client.app[WRITER], api.client.app[STORE]
    real_append = writer._append
    failed = asyncio.Event()

    async def full_disk_once(entries: list[Entry]) -> None:
        if not failed.is_set():
            failed.set()
            await asyncio.sleep(0.2)  # the disk takes its time to fail: more writes are decided meanwhile
            raise sqlite3.OperationalError("database or disk is full")
        await real_append(entries)

    writer._append = full_disk_once

    async def create(n: int) -> tuple[int, str]:
        status, _ = await api.call("POST", "/api/v1/groups", {"group_id": f"g{n}"}, token, op_id=f"op-g{n}")
        return status, f"g{n}"

    first = asyncio.create_task(create(0))
    await failed.wait()
    answers = [await first, *await asyncio.gather(*(create(n) for n in range(1, 21)))]
    assert {status for status, _ in answers} <= {201, 503}
    assert answers[0][0] == 503  # the write the disk refused
    for status, gid in answers:
        if status == 503:  # the client's retry, same op_id
            assert (await create(int(gid[1:])))[0] == 201
    await writer.drained()
    indexes = [entry.index for entry in await store.entries_after(0)]
    assert indexes == list(range(1, len(indexes) + 1))  # no gap, no index twice
    on_disk = await store.load_state()
    status, listed = await api.call("GET", "/api/v1/groups", token=token)
    assert status == 200
    assert sorted(g["group_id"] for g in listed["groups"]) == sorted(on_disk.groups) == sorted(
        f"g{n}" for n in range(21))


async def _groups_agree(api: Api, token: str) -> list[str]:
    """The groups listed (from memory) and the groups in SQLite: the same; returned."""
    on_disk = await api.client.app[STORE].load_state()
    status, listed = await api.call("GET", "/api/v1/groups", token=token)
    assert status == 200
    names = sorted(g["group_id"] for g in listed["groups"])
    assert names == sorted(on_disk.groups)
    return names


async def _create_until_stored(api: Api, token: str, gid: str) -> list[int]:
    """A client's retries (same op_id) of one create_group until it is stored; the statuses it got."""
    statuses: list[int] = []
    while 201 not in statuses:
        assert len(statuses) < 5, statuses
        status, _ = await api.call("POST", "/api/v1/groups", {"group_id": gid}, token, op_id=f"op-{gid}")
        statuses.append(status)
    return statuses


async def test_an_entry_that_would_leave_a_gap_in_the_log_fails_and_memory_is_reloaded(api: Api) -> None:
    """A safeguard against a bug: memory ahead of the log (as a bug would leave it) is not written with a gap; the
    write fails as one the disk refused, memory is reloaded from SQLite, and the retry lands."""
    token = await api.user("alice")
    api.client.app[SERVICE].state.index += 1  # the bug: an index skipped
    assert await _create_until_stored(api, token, "g1") == [503, 201]
    assert await _groups_agree(api, token) == ["g1"]
    indexes = [entry.index for entry in await api.client.app[STORE].entries_after(0)]
    assert indexes == list(range(1, len(indexes) + 1))


async def test_a_reload_that_fails_too_leaves_the_writer_running(api: Api) -> None:
    token = await api.user("alice")
    writer, store = api.client.app[WRITER], api.client.app[STORE]
    real_append, real_load = writer._append, store.load_state
    broken = {"append": True, "load": True}

    async def append_once_broken(entries: list[Entry]) -> None:
        if broken.pop("append", False):
            raise sqlite3.OperationalError("database or disk is full")
        await real_append(entries)

    async def load_once_broken() -> State:
        if broken.pop("load", False):
            raise sqlite3.OperationalError("disk I/O error")
        fresh: State = await real_load()
        return fresh

    writer._append = append_once_broken
    store.load_state = load_once_broken
    statuses = await asyncio.wait_for(_create_until_stored(api, token, "g1"), 30)  # never a hang
    assert statuses[0] == 503 and statuses[-1] == 201
    assert writer._task is not None and not writer._task.done()
    assert await _groups_agree(api, token) == ["g1"]
