"""The browser login's words for a tracker's 429: only a lockout is "too many wrong passwords"; a limit on logins
(from this address, to this account) that outlasts what the node waits out itself says what it is and how long."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from tests.security.live_node import World, live_world
from tracker_server.buckets import BucketPolicy
from tracker_server.keys import SERVICE


async def _login(world: World, password: str) -> tuple[int, str]:
    resp = await world.node.post("/login", data={"user_id": "alice", "password": password,
                                                 "csrf_token": await world.csrf_of("/login")},
                                 headers={"Origin": world.origin}, allow_redirects=False)
    return resp.status, await resp.text()


async def test_a_login_refused_by_the_address_login_rate_is_not_called_wrong_passwords(
        aiohttp_client: Callable[..., Awaitable[Any]], tmp_path: Path) -> None:
    async with live_world(aiohttp_client, tmp_path) as world:
        # One login from this address a minute from now on: past the node's 20 s of patience, so it is told.
        world.tracker.app[SERVICE].writes.addresses.policy = BucketPolicy(burst=1, interval=60.0)
        assert (await _login(world, "pw-alice"))[0] == 303  # the one allowed
        status, page = await _login(world, "pw-alice")
    assert status >= 400 and "Too many logins from your address; try again in 60 s." in page
    assert "wrong passwords" not in page
