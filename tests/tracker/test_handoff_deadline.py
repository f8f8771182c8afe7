"""Connections the fast path hands to aiohttp keep the fast path's head deadline (``wire.head_clock``), not only
aiohttp's keep-alive timer (75 s, not reset by bytes): raw sockets, a lowered request deadline, a real client
answered meanwhile. Each wait is bounded far above the lowered deadline (``WAIT``)."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

from .test_conn_limits import WAIT, connect, served
from .test_fastpath import HEALTH, heartbeat, read_reply

DEADLINE = 0.5
TRICKLERS = 20


async def cut(reader: asyncio.StreamReader) -> bool:
    """Whether the tracker closes the connection (a write of the trickle after it fails: a broken pipe)."""
    with contextlib.suppress(ConnectionError):
        while await asyncio.wait_for(reader.read(65536), WAIT):
            pass
    return True


async def _trickle(writer: asyncio.StreamWriter, start: bytes) -> None:
    writer.write(start)
    for _ in range(100_000):  # a header byte every 20 ms: a head that never ends
        writer.write(b"a")
        await asyncio.sleep(0.02)


async def test_a_head_trickled_after_the_hand_off_is_cut_at_the_request_deadline(tmp_path: Path) -> None:
    async with served(tmp_path, request_timeout=DEADLINE, idle_timeout=60.0) as (listener, token):
        kept = await connect(listener)
        kept[1].write(HEALTH)  # handed off, answered by aiohttp, then quiet between requests
        assert (await asyncio.wait_for(read_reply(kept[0]), WAIT)).status == 200
        trickling = [await connect(listener) for _ in range(TRICKLERS)]
        for reader, writer in trickling:  # a first request each, handed off and answered
            writer.write(HEALTH)
            assert (await asyncio.wait_for(read_reply(reader), WAIT)).status == 200
        # (A head handed over before it is complete, for a bare LF or past http_frame.MAX_HEAD, aiohttp refuses
        # at once: 400 and a close. Only a later head on a connection aiohttp has could be trickled.)
        senders = [asyncio.create_task(_trickle(w, b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-a: ")) for _, w in trickling]
        try:
            real = await connect(listener)
            real[1].write(heartbeat(token))
            assert (await asyncio.wait_for(read_reply(real[0]), WAIT)).status == 200
            real[1].close()
            for reader, _ in trickling:
                assert await cut(reader)  # its next head, on aiohttp's keep-alive connection
            assert not any(s.done() for s in senders)  # still sending when cut
            assert listener.counts.handed_overdue == TRICKLERS
            # The kept one has been quiet longer than a head may take: between requests, still served.
            kept[1].write(HEALTH)
            assert (await asyncio.wait_for(read_reply(kept[0]), WAIT)).status == 200
        finally:
            for s in senders:
                s.cancel()
            for _, writer in [kept, *trickling]:
                writer.close()
