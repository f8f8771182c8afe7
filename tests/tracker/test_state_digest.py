"""``/internal/v1/digest`` is read and hashed in a worker thread, without the store's lock, and says what it said
(state_digest.py says why)."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import time
from pathlib import Path
from typing import Any

from tracker_server.app import create_app
from tracker_server.cluster_auth import cluster_key, sign
from tracker_server.keys import STORE
from tracker_server.store import Store, _dumps
from wire.tracker_list import TrackerAddress

from .helpers import SECRET, Api, AppFactory, Clock, make_config
from .test_rules import file_body

DIGEST = "/internal/v1/digest"


async def _some_state(api: Api) -> None:
    owner = await api.user("owner")
    await api.user("other")
    await api.ok("POST", "/api/v1/groups", {"group_id": "g"}, owner, want=201)
    for i in range(3):
        await api.ok("POST", "/api/v1/groups/g/files", file_body(f"f{i}", size=40 * 16384), owner, want=201)
    await api.call("POST", "/api/v1/sessions", {"user_id": "owner", "password": "wrong", "peer_addr": "1.2.3.4:5"})


async def _old_digest(store: Store) -> str:
    """The digest as it was computed: the tables' dump, as one JSON text, hashed."""
    snap = await store.dump()
    snap.pop("log")
    snap.pop("log_start")
    return hashlib.sha256(_dumps(snap).encode("utf-8")).hexdigest()


async def test_the_digest_is_the_one_of_the_whole_dump_as_before(api: Api) -> None:
    """Trackers of the previous release compare equal to these."""
    store: Store = api.client.app[STORE]
    await _some_state(api)
    assert await store.digest() == await _old_digest(store)
    assert (await store.dump())["login_failures"]  # floats went into it too


async def test_the_digest_route_answers_while_the_store_is_held_and_says_the_same(
        start_tracker: AppFactory, aiohttp_client: Any, tmp_path: Path) -> None:
    """The store's lock held (a long transaction: a compaction, a snapshot's install): the digest was read under it
    and waited; now it reads its own view and answers meanwhile."""
    api = await start_tracker()
    await _some_state(api)
    await api.client.close()
    trackers = (TrackerAddress("127.0.0.1", 1, 1), TrackerAddress("127.0.0.1", 2, 2))
    config = dataclasses.replace(make_config(tmp_path / "data", Clock()), trackers=trackers)
    client = await aiohttp_client(create_app(config))
    store: Store = client.app[STORE]
    headers = {"Content-Type": "application/json",
               **sign(cluster_key(SECRET), "POST", DIGEST, 2, b"{}", time.time())}
    async with store._tx:  # held until the digest has answered (or the deadline: the old code never does)
        asking = asyncio.create_task(client.post(DIGEST, data=b"{}", headers=headers))
        try:
            deadline = asyncio.get_running_loop().time() + 20
            while not asking.done():
                assert asyncio.get_running_loop().time() < deadline, "the digest waits for the store's lock"
                await asyncio.sleep(0.01)
            resp = await asking
        finally:
            asking.cancel()
            await asyncio.gather(asking, return_exceptions=True)
        assert resp.status == 200
        answer = await resp.json()
    entries = await store.entries_after(0, 1000)
    assert answer == {"digest": await _old_digest(store), "log_index": entries[-1].index,
                      "op_ids": [e.op_id for e in entries]}
