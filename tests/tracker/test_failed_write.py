"""A write that fails to reach SQLite (a full disk) while others queue behind it: every caller gets an answer,
what was queued on the memory the reload threw away fails too (not written later with indexes past the log's, or
colliding with the next ones), the log stays without gaps, and retries land."""

from __future__ import annotations

import asyncio
import sqlite3

from tracker_server.keys import STORE, WRITER
from tracker_server.state import Entry

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
