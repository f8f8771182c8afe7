"""A slow, distant link on loopback: a TCP relay on 127.0.0.1 that delays and rate-caps what it forwards.

Theory of operation: ``LinkEmulator`` listens on 127.0.0.1; each connection it accepts gets a connection to the
target and two ``Direction``s, one each way. A direction reads what its source sends, asks its ``Schedule`` when
each chunk's last byte reaches the far end, and writes the chunk to its destination then, in order. The
schedule is pure (time is passed in): a token bucket of ``burst`` bytes refilled at ``rate`` bytes/s decides
when a chunk leaves, and it arrives ``delay`` seconds (one way) later. So a request takes ``delay`` to reach the
peer, its answer ``delay`` to come back plus its size over the rate: the round trip is ``2 * delay``.

What it does not emulate: TCP itself. Both real sockets are on loopback, so the kernel's windows, slow start and
autotuning see a round trip of microseconds; only the application sees the delay and the rate (a real sender's
window, e.g. Linux's ``tcp_wmem`` limit of 4 MiB, would bound one connection to 4 MiB a round trip: not
emulated). A direction stops reading its source while more than ``queue`` seconds of bytes wait to leave (a
bottleneck's queue; bytes that left and are only delayed do not count) and reads again once half of that has
left, so a sender is held back by the link's rate, not by the relay; the sender's own socket buffers then queue
a little more, as a real sender's do. An end of stream (FIN) is forwarded after the bytes before it; a
connection lost by one side is closed on the other once what it sent has been delivered.

``python -m bench.link_emulator TARGET_PORT --rtt 0.15 --rate 25e6`` runs one as a process (so its CPU is not the
downloader's) and prints ``{"port": N}`` once it listens; SIGTERM stops it.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import json
import signal
import sys
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class LinkShape:
    rtt: float  # seconds, both ways together: each direction delays by half
    rate: float  # bytes/s each way
    burst: int = 64 * 1024  # bytes an idle link may send at once (the token bucket's depth)
    queue: float = 0.05  # seconds of ``rate`` waiting to leave (a bottleneck's queue) before a direction stops reading


class Schedule:
    """When bytes sent into one direction of the link reach the far end. Pure: ``now`` is passed in.

    A token bucket of ``burst`` bytes refilled at ``rate`` (GCRA's virtual scheduling): bytes leave one after
    another at ``rate``, and an idle link may start up to ``burst / rate`` seconds "in the past" (its saved
    credit). ``free_at`` is when the bytes sent so far would all have left."""

    def __init__(self, rate: float, delay: float, burst: int) -> None:
        if rate <= 0 or delay < 0 or burst < 0:
            raise ValueError("rate must be positive, delay and burst not negative")
        self.rate, self.delay, self.burst = rate, delay, burst
        self.free_at = float("-inf")

    def backlog(self, now: float) -> float:
        """Seconds until what was sent so far has all left (bytes still waiting at the bottleneck, over ``rate``);
        bytes that left and are only delayed do not count."""
        return max(0.0, self.free_at - now)

    def arrival(self, now: float, nbytes: int) -> float:
        """Send ``nbytes`` at ``now``: the time their last byte reaches the far end (never before an earlier
        chunk's, so the byte order holds)."""
        start = max(now - self.burst / self.rate, self.free_at)
        self.free_at = start + nbytes / self.rate
        return max(now, self.free_at) + self.delay


_EOF, _CLOSE = b"", None  # in a direction's queue after the data: the source ended its stream, or is gone


class Direction(asyncio.Protocol):
    """One way of one relayed connection: reads from its source transport (it is that transport's protocol) and
    writes to ``dest`` on schedule. ``other`` is the way back, whose destination is this one's source."""

    def __init__(self, schedule: Schedule, queue: float) -> None:
        self.schedule, self.queue = schedule, queue
        self.source: asyncio.Transport | None = None
        self.dest: asyncio.Transport | None = None
        self.other: Direction | None = None
        self._queue: collections.deque[tuple[float, bytes | None]] = collections.deque()
        self._timer: asyncio.TimerHandle | None = None
        self._backlog_timer: asyncio.TimerHandle | None = None
        self._reading = True
        self._dest_paused = False
        self._dropping = False
        self.loop = asyncio.get_running_loop()

    # --- the source ------------------------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.source = transport
        if self.dest is None:  # the relay's other leg is still connecting: read nothing until it is there
            self._pause_source()

    def data_received(self, data: bytes) -> None:
        if self._dropping:
            return
        now = self.loop.time()
        self._push(self.schedule.arrival(now, len(data)), data)
        if self.schedule.backlog(now) >= self.queue:  # the bottleneck's queue is full: hold the sender back
            self._pause_source()
            if self._backlog_timer is None:  # read again once half of the queue has left
                self._backlog_timer = self.loop.call_at(now + self.schedule.backlog(now) - self.queue / 2,
                                                        self._backlog_drained)

    def eof_received(self) -> bool:
        self._push(self.schedule.arrival(self.loop.time(), 0), _EOF)
        return True  # keep the other half open: the far end may still answer

    def connection_lost(self, exc: Exception | None) -> None:
        self.source = None
        self._push(self.schedule.arrival(self.loop.time(), 0), _CLOSE)  # what it sent still arrives, then closes
        if self.other is not None:
            self.other.discard()  # the way back led to this source, which is gone

    def pause_writing(self) -> None:  # our source is the way back's destination: the way back must wait
        if self.other is not None:
            self.other._dest_paused = True
            self.other._pause_source()

    def resume_writing(self) -> None:
        if self.other is not None:
            self.other._dest_paused = False
            self.other.maybe_resume()

    # --- the queue -------------------------------------------------------------------------------------------
    def _push(self, at: float, data: bytes | None) -> None:
        self._queue.append((at, data))
        self.schedule_delivery()

    def schedule_delivery(self) -> None:
        if self._timer is None and self._queue and self.dest is not None:
            self._timer = self.loop.call_at(self._queue[0][0], self._deliver)

    def _deliver(self) -> None:
        self._timer = None
        dest = self.dest
        if dest is None:
            return
        now, out = self.loop.time(), []
        end: bytes | None = b"-"
        while self._queue and self._queue[0][0] <= now:
            _, data = self._queue.popleft()
            if not data:  # _EOF or _CLOSE: nothing comes after it
                end = data
                self._queue.clear()
                break
            out.append(data)
        if out and not dest.is_closing():
            dest.writelines(out)
        if end is _CLOSE:
            dest.close()  # after what was written
        elif end == _EOF and dest.can_write_eof() and not dest.is_closing():
            dest.write_eof()
        self.schedule_delivery()
        self.maybe_resume()

    def _backlog_drained(self) -> None:
        self._backlog_timer = None
        self.maybe_resume()

    def _pause_source(self) -> None:
        if self._reading and self.source is not None:
            self._reading = False
            self.source.pause_reading()

    def maybe_resume(self) -> None:
        if (not self._reading and self.source is not None and self.dest is not None and not self._dest_paused
                and self._backlog_timer is None and self.schedule.backlog(self.loop.time()) < self.queue):
            self._reading = True
            self.source.resume_reading()

    def discard(self) -> None:
        """The destination is gone: nothing more is delivered; what the source sends from now on is dropped
        (the source is closed by the way back, once that has delivered what it holds)."""
        for timer in (self._timer, self._backlog_timer):
            if timer is not None:
                timer.cancel()
        self._timer = self._backlog_timer = None
        self._queue.clear()
        self.dest = None
        self._dropping = True

    def stop(self) -> None:
        """Close both ends now, dropping whatever was queued."""
        self.discard()
        if self.source is not None:
            self.source.abort()


def _pair(a: Direction, b: Direction) -> None:
    a.other, b.other = b, a


class LinkEmulator:
    """Relays every connection accepted on 127.0.0.1:``port`` to ``target`` through a link of ``shape``."""

    def __init__(self, target_port: int, shape: LinkShape, target_host: str = "127.0.0.1") -> None:
        self.target = (target_host, target_port)
        self.shape = shape
        self._server: asyncio.Server | None = None
        self._directions: set[Direction] = set()

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])

    def _schedule(self) -> Schedule:
        return Schedule(self.shape.rate, self.shape.rtt / 2, self.shape.burst)

    def _accept(self) -> Direction:
        """The client-to-target direction, whose source is the accepted connection."""
        up = Direction(self._schedule(), self.shape.queue)
        down = Direction(self._schedule(), self.shape.queue)
        _pair(up, down)
        self._directions.update((up, down))
        asyncio.get_running_loop().create_task(self._connect(up, down))
        return up

    async def _connect(self, up: Direction, down: Direction) -> None:
        loop = asyncio.get_running_loop()
        try:
            transport, _ = await loop.create_connection(lambda: down, *self.target)
        except OSError:
            up.stop()
            return
        assert isinstance(transport, asyncio.Transport)
        if up.source is None:  # the client left while we connected
            transport.abort()
            return
        up.dest, down.dest = transport, up.source
        for d in (up, down):
            d.maybe_resume()
            d.schedule_delivery()

    async def start(self) -> LinkEmulator:
        self._server = await asyncio.get_running_loop().create_server(self._accept, "127.0.0.1", 0)
        return self

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for d in self._directions:
            d.stop()
            if d.dest is not None:
                d.dest.abort()
        self._directions.clear()
        if self._server is not None:
            await self._server.wait_closed()

    async def __aenter__(self) -> LinkEmulator:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


async def _serve(target: int, shape: LinkShape) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with LinkEmulator(target, shape) as relay:
        print(json.dumps({"port": relay.port}), flush=True)
        await stop.wait()


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m bench.link_emulator", description=__doc__.splitlines()[0])
    ap.add_argument("target_port", type=int)
    ap.add_argument("--rtt", type=float, required=True, help="round trip, seconds")
    ap.add_argument("--rate", type=float, required=True, help="bytes/s each way")
    args = ap.parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args.target_port, LinkShape(args.rtt, args.rate)))
    sys.exit(0)


if __name__ == "__main__":
    main()
