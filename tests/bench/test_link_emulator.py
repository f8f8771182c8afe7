"""The loopback link emulator: its schedule (pure: rate, burst, delay, order) and the relay (bytes, order, FIN)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bench.link_emulator import LinkEmulator, LinkShape, Schedule

RATE, DELAY, BURST = 1_000_000.0, 0.05, 10_000


def test_a_chunk_within_the_burst_on_an_idle_link_arrives_after_the_delay_alone() -> None:
    s = Schedule(RATE, DELAY, BURST)
    assert s.arrival(10.0, BURST) == pytest.approx(10.0 + DELAY)


def test_sustained_sending_arrives_at_the_rate_after_the_burst() -> None:
    s = Schedule(RATE, DELAY, BURST)
    last = 0.0
    for _ in range(100):  # 1 MB offered at once, in 10 kB chunks
        last = s.arrival(0.0, 10_000)
    assert last == pytest.approx((1_000_000 - BURST) / RATE + DELAY)


def test_an_idle_link_earns_back_its_burst_and_no_more() -> None:
    s = Schedule(RATE, DELAY, BURST)
    s.arrival(0.0, 100_000)  # busy until 0.09 s
    assert s.arrival(5.0, BURST) == pytest.approx(5.0 + DELAY)  # idle long since: a burst goes at once
    assert s.arrival(5.0, 1_000) == pytest.approx(5.0 + 1_000 / RATE + DELAY)  # but not more than one


@given(st.lists(st.tuples(st.floats(0, 0.5), st.integers(0, 200_000)), min_size=1, max_size=50))
def test_bytes_keep_their_order_and_never_beat_the_rate_or_the_delay(sends: list[tuple[float, int]]) -> None:
    s = Schedule(RATE, DELAY, BURST)
    now, sent, prev = 0.0, 0, float("-inf")
    for gap, n in sends:
        now += gap
        at = s.arrival(now, n)
        sent += n
        assert at >= prev and at >= now + DELAY
        assert sent <= BURST + RATE * (at - DELAY) + 1e-6  # never more than the burst plus the rate since 0
        prev = at


def test_a_schedule_refuses_a_rate_of_zero() -> None:
    with pytest.raises(ValueError):
        Schedule(0, DELAY, BURST)


def test_the_backlog_counts_only_bytes_still_waiting_to_leave_not_those_on_the_way() -> None:
    # A relay that stopped reading on all the bytes it held (the delay line too) capped a 300 ms link at ~65% of
    # its rate: the bytes merely on the way must not hold the sender back.
    s = Schedule(1e6, 0.5, 0)
    assert s.arrival(0.0, 100_000) == pytest.approx(0.6)
    assert s.backlog(0.0) == pytest.approx(0.1)
    assert s.backlog(0.1) == 0.0  # all left, though none arrived yet


@contextlib.asynccontextmanager
async def echo_server() -> AsyncIterator[int]:
    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(1 << 16):
            writer.write(data)
            await writer.drain()
        writer.close()  # our FIN answers theirs
    server = await asyncio.start_server(echo, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        await server.wait_closed()


async def test_the_relay_delivers_every_byte_in_order_and_forwards_the_end_of_stream() -> None:
    payload = bytes(range(256)) * 4096  # 1 MiB, so it crosses the queue limit and the relay pauses its reading
    async with echo_server() as port, LinkEmulator(port, LinkShape(rtt=0.02, rate=5e6)) as relay:
        reader, writer = await asyncio.open_connection("127.0.0.1", relay.port)
        writer.write(payload)
        writer.write_eof()
        got = await asyncio.wait_for(reader.read(), 30)  # read() until EOF: the echo's FIN came back through
        writer.close()
        assert got == payload


async def test_an_answer_through_the_relay_takes_at_least_the_round_trip() -> None:
    async with echo_server() as port, LinkEmulator(port, LinkShape(rtt=0.2, rate=10e6)) as relay:
        reader, writer = await asyncio.open_connection("127.0.0.1", relay.port)
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        writer.write(b"ping")
        assert await asyncio.wait_for(reader.readexactly(4), 10) == b"ping"
        assert loop.time() - t0 >= 0.2  # a floor the schedule guarantees, not a timing guess
        writer.close()


async def test_a_relay_to_a_closed_port_closes_the_connection() -> None:
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()
    async with LinkEmulator(port, LinkShape(rtt=0.01, rate=1e6)) as relay:
        reader, writer = await asyncio.open_connection("127.0.0.1", relay.port)
        assert await asyncio.wait_for(reader.read(), 10) == b""
        writer.close()
