"""A write whose first caller went away (its request cancelled) leaves nothing behind: its retry is answered."""

from __future__ import annotations

import asyncio

from tracker_server.keys import SERVICE

from .helpers import Api


async def test_a_write_whose_caller_was_cancelled_is_forgotten_once_it_lands_and_its_retry_is_answered(
        api: Api) -> None:
    token = await api.user("alice")
    service = api.client.app[SERVICE]
    first = asyncio.create_task(service.create_group("op-1", token, "g1"))
    await asyncio.sleep(0)  # the entry is submitted; its write has not landed
    first.cancel()  # the client hung up (or the tracker is stopping its handlers)
    await asyncio.gather(first, return_exceptions=True)
    await service.writer.drained()
    await asyncio.sleep(0)  # the write's callbacks run
    assert service._in_flight == {}  # not kept (and awaited by every retry) for ever
    retry = await asyncio.wait_for(service.create_group("op-1", token, "g1"), 5)
    assert retry.status == 201
