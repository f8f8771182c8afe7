"""A password check of the user the node already acts for (``confirm_login``: the browser logging in to a node that
/cmd logged in, a script's repeated ``login``) stops the heartbeat while its request is at the tracker. While the
node waits out the tracker's "slow down" (``tracker_patience``) nothing is at the tracker, and the wait may last
20 s, past the tracker's peer timeout (15 s): the heartbeat must go on meanwhile, or the node's shares drop out of
every listing while it waits."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from peer_node.app import SERVICE as NODE_SERVICE
from tests.security.live_node import live_world
from tracker_server.keys import SERVICE
from wire.errors import TooManyRequests


async def test_a_password_check_waiting_out_a_429_keeps_the_heartbeat_going(
        aiohttp_client: Callable[..., Awaitable[Any]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    async with live_world(aiohttp_client, tmp_path) as world:
        node = world.node.server.app[NODE_SERVICE]
        node.tracker.patience_s = 6.0  # the old code fails by running out of patience: sooner than 20 s
        logins = world.tracker.app[SERVICE].writes.logins
        allowed = logins.check
        refused_at: list[int] = []  # the node's beats when the tracker first said "slow down"

        def check(user_id: str, now: float) -> float:
            # "Too many logins to this account" until the node has sent a heartbeat since: only a heartbeat that
            # goes on during the wait lets the check through
            if not refused_at or node.heartbeat.beats <= refused_at[0]:
                refused_at[:1] = refused_at[:1] or [node.heartbeat.beats]
                raise TooManyRequests("too many logins to this account; try again in 1 s", retry_after=1)
            return allowed(user_id, now)

        monkeypatch.setattr(logins, "check", check)
        await node.confirm_login("alice", "pw-alice")
        assert refused_at and node.heartbeat.beats > refused_at[0]
        status, text = await world.cmd("list_groups")  # the new session works
        assert status == 200 and text.startswith("g1\t"), text
