"""The node's web port (browser UI and ``/cmd``): aiohttp's server behind a connection cap and head deadlines.

Why: aiohttp's own site took every connection and gave a request head as long as an idle connection (its
keep-alive timer, not reset by incoming bytes: ``KEEPALIVE_S``, 75 s). The port listens on 127.0.0.1 only, but any
local process (or a page in the browser, by many hidden requests) could open connections until the node ran out
of descriptors, which its piece port and its downloads need too. So, as on the tracker (``wire.conn_guard``):

- at most ``WebLimits.max_connections`` open at once (all come from 127.0.0.1, so the per-address count of
  ``conn_guard.AddressCounts`` is the total). 128 is far above one user's needs: a browser opens at most 6
  connections to a host, plus a live stream per open page; scripts calling ``/cmd`` take one each. Over the cap a
  connection is answered 503 with ``Retry-After`` and a one-line ``error: ...`` body, unread, and cut after
  ``LINGER``; past ``conn_guard.DEFAULT_OVER_CAP_ANSWERS`` such answers lingering, reset;
- a new connection must send a request head's first byte within ``first_byte`` seconds, and each head must be
  complete within ``head`` seconds of its first byte (``wire.head_clock``); between requests aiohttp's keep-alive
  timer (75 s) stays the idle deadline, and a body (a browser's upload of a large file) has none here.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from aiohttp import web

from wire.conn_guard import DEFAULT_OVER_CAP_ANSWERS, OVER_CAP_RETRY_S, AddressCounts, Deadlines, OverCapAnswers, key_of
from wire.guarded_conn import HeadGuard, OverCapReply
from wire.head_clock import HeadClock

LINGER = 1.0  # seconds an over-cap answer's connection stays open (conn_guard says why)
_TRACKER = Deadlines()
BUSY_TEXT = f"error: too many connections to this node at once; try again in {OVER_CAP_RETRY_S} s\n"


@dataclass(frozen=True, slots=True)
class WebLimits:
    max_connections: int = 128
    first_byte: float = _TRACKER.first_byte  # the tracker's: 10 s
    head: float = _TRACKER.request  # the tracker's: 20 s

    def __post_init__(self) -> None:
        if self.max_connections < 1 or not (self.first_byte > 0 and self.head > 0):
            raise ValueError("the web port's cap must be at least 1 and its deadlines positive")


def busy_reply() -> bytes:
    body = BUSY_TEXT.encode()
    return (b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\n"
            b"Content-Length: %d\r\nRetry-After: %d\r\nConnection: close\r\n\r\n%s" % (len(body), OVER_CAP_RETRY_S,
                                                                                   body))


class WebListener:
    """The listening socket of the node's web port, in place of aiohttp's ``TCPSite`` over the same runner."""

    def __init__(self, runner: web.BaseRunner, limits: WebLimits) -> None:
        server = runner.server
        if server is None:
            raise RuntimeError("call runner.setup() first")
        self._make_inner = server
        self.limits = limits
        self.counts = AddressCounts(limits.max_connections)
        self._answers = OverCapAnswers(DEFAULT_OVER_CAP_ANSWERS)
        self._reply = busy_reply()
        self._server: asyncio.Server | None = None
        self._lingering: set[asyncio.Transport] = set()  # over-cap connections answered, not yet cut
        self.refused = 0  # connections answered busy (or reset) since the start
        self.overdue = 0  # connections closed for a head that missed its deadline

    async def start(self, host: str, port: int) -> None:
        self._server = await asyncio.get_running_loop().create_server(self._protocol, host, port,
                                                                      reuse_address=True)

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])

    def connections_of(self, host: str) -> int:
        """Open connections counted for ``host``'s address."""
        return self.counts.held(key_of((host,)))

    def _protocol(self) -> asyncio.Protocol:
        return _Admission(self)

    def close(self) -> None:
        """Stop listening and cut the over-cap connections still lingering; the connections aiohttp has close
        with the runner (``runner.cleanup``)."""
        if self._server is not None:
            self._server.close()
            self._server = None
        for transport in list(self._lingering):  # their cut timers go with them (``OverCapReply``)
            transport.abort()


class _Admission(asyncio.Protocol):
    """Decides at ``connection_made`` whether the connection is aiohttp's (under guard) or answered busy, then
    hands the transport to that protocol for good."""

    def __init__(self, listener: WebListener) -> None:
        self._listener = listener

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        listener = self._listener
        key = key_of(transport.get_extra_info("peername"))
        protocol: asyncio.Protocol
        if listener.counts.admit(key):
            clock = HeadClock(listener.limits.head, (time.monotonic(), listener.limits.first_byte))
            protocol = guard = HeadGuard(listener._make_inner(), clock, lambda: self._lost(key, guard))
        else:
            listener.refused += 1
            protocol = OverCapReply(listener._reply, listener._answers, LINGER, listener._lingering)
        transport.set_protocol(protocol)
        protocol.connection_made(transport)

    def _lost(self, key: str, guard: HeadGuard) -> None:
        self._listener.counts.release(key)
        if guard.overdue:
            self._listener.overdue += 1
