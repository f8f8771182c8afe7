"""A write the node is waiting to send again (the tracker said "slow down": ``tracker_patience``) is sent again
under the login it was made in. Its wait may last 20 s; a logout and another user's login meanwhile (the browser
and a script share one node) must not make it that user's write: the tracker would apply it as theirs, since a
refused op_id was never applied and so is new to it."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.security.live_node import World
from tracker_server.keys import SERVICE
from wire.errors import TooManyRequests


async def test_a_paced_write_is_not_sent_again_as_the_user_who_logged_in_meanwhile(
        world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    assert (await world.cmd("create_user bob pw-bob"))[0] == 200
    svc = world.tracker.app[SERVICE]
    write = svc._write
    refused, switched = asyncio.Event(), asyncio.Event()

    async def paced(op_id: str, kind: str, *args: Any, **kwargs: Any) -> Any:
        if kind == "create_group" and not switched.is_set():  # "slow down" until bob is logged in
            refused.set()
            raise TooManyRequests("too many changes in a short time; try again in 1 s", retry_after=1)
        return await write(op_id, kind, *args, **kwargs)

    monkeypatch.setattr(svc, "_write", paced)
    create = asyncio.create_task(world.cmd("create_group g2"))  # alice's script
    await asyncio.wait_for(refused.wait(), 30)
    for line in ("logout", "login bob pw-bob"):  # meanwhile, at the browser
        status, text = await world.cmd(line)
        assert status == 200, (line, text)
    switched.set()
    status, text = await asyncio.wait_for(create, 60)
    assert status == 401 and "alice" in text and "nothing was done" in text, text
    groups = (await world.cmd("list_groups"))[1]
    assert "g2" not in groups, groups  # not created, and not as bob
