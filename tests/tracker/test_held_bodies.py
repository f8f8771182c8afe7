"""One session may have at most ``HeldBodies.cap`` bytes of request bodies under way at once (``held_bodies.py``),
on the fast path and on aiohttp's together: raw sockets that send a head and all but the end of a 1 MiB body."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.swarm.helpers import poll_until
from tracker_server.held_bodies import HeldBodies

from .test_conn_limits import MIB, WAIT, closed, connect, served
from .test_fastpath import heartbeat, read_reply

BEAT = b'{"holdings": []}'
PADDED = BEAT + b" " * (MIB - len(BEAT))  # a valid heartbeat body of 1 MiB


def heartbeat_head(token: str) -> bytes:
    return b"POST /api/v1/heartbeat HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer %s\r\nContent-Length: %d\r\n\r\n" % (
        token.encode(), MIB)


def create_group_head(token: str) -> bytes:
    """A request aiohttp answers (the fast path hands it over as soon as its head is in), 1 MiB announced."""
    return b"POST /api/v1/groups HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer %s\r\nContent-Length: %d\r\n\r\n" % (
        token.encode(), MIB)


def test_the_count_refuses_past_the_cap_and_forgets_a_session_with_nothing_under_way() -> None:
    held = HeldBodies(100)
    assert held.take("s", 60) and not held.take("s", 41) and held.take("t", 100)
    held.give_back("s", 60)
    assert held.take("s", 100)
    held.give_back("s", 100)
    held.give_back("t", 100)
    assert held.held("s") == held.held("t") == 0 and not held._held
    with pytest.raises(ValueError):
        HeldBodies(0)


async def test_a_session_past_its_allowance_of_held_bodies_is_refused_429_before_its_body(tmp_path: Path) -> None:
    async with served(tmp_path) as (listener, token):
        held = listener._shared.bodies
        assert held.cap == 2 * MIB
        first = await connect(listener)  # on the fast path: a heartbeat whose body trickles
        first[1].write(heartbeat_head(token) + PADDED[:100])
        second = await connect(listener)  # on aiohttp's side: a write whose body trickles
        second[1].write(create_group_head(token) + b"{")
        await asyncio.wait_for(poll_until(lambda: held.held(token) == 2 * MIB), WAIT)
        over = []
        for head in (heartbeat_head(token), create_group_head(token)):  # a third, on either side: refused
            reader, writer = await connect(listener)
            writer.write(head + b"{")
            reply = await asyncio.wait_for(read_reply(reader), WAIT)
            assert (reply.status, reply.json()["error"]["code"]) == (429, "too_many_requests")
            assert reply.headers["retry-after"] == "1"
            assert await closed(reader)
            writer.close()
            over.append(reply.by_fast_path)
        assert over == [True, False]
        real = await connect(listener)  # a heartbeat whose body comes with its head holds nothing: answered
        real[1].write(heartbeat(token))
        assert (await asyncio.wait_for(read_reply(real[0]), WAIT)).status == 200
        first[1].write(PADDED[100:])  # the first body complete: answered, and its bytes no longer held
        assert (await asyncio.wait_for(read_reply(first[0]), WAIT)).status == 200
        assert held.held(token) == MIB
        second[1].close()  # the second given up: its bytes no longer held either
        await asyncio.wait_for(poll_until(lambda: held.held(token) == 0), WAIT)
        again = await connect(listener)
        again[1].write(heartbeat_head(token) + PADDED)
        assert (await asyncio.wait_for(read_reply(again[0]), WAIT)).status == 200
        for _, writer in (first, real, again):
            writer.close()
