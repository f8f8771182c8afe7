"""Thin asyncio protocols that hold aiohttp's connections to the limits of ``conn_guard`` and ``head_clock``.

``HeadGuard`` sits between a transport and aiohttp's protocol, passes every call through and closes the connection
when a request head misses its deadline (``head_clock.HeadClock``); it tells its owner when the connection is
gone, so a count of open connections (``conn_guard.AddressCounts``) can be kept exactly. One timer per head under
way, re-armed only when the deadline moves: these connections are not the tracker's hot path (the fast path
answers that without aiohttp) and the node's web port serves one browser.

``OverCapReply`` answers a connection over the cap at once, without reading it ("busy, try again": 503 with
``Retry-After``), and cuts it after ``linger`` seconds (``conn_guard`` says why not at once).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from wire.conn_guard import OverCapAnswers
from wire.head_clock import HeadClock


class HeadGuard(asyncio.Protocol):
    """aiohttp's protocol ``inner``, with a deadline on each request head; ``on_lost`` runs once, at the end."""

    def __init__(self, inner: asyncio.Protocol, clock: HeadClock, on_lost: Callable[[], None] | None = None) -> None:
        self.inner = inner
        self.clock = clock
        self.on_lost = on_lost
        self._transport: asyncio.Transport | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: float | None = None
        self.overdue = False  # closed for a missed head deadline

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        self.inner.connection_made(transport)
        self._arm()

    def data_received(self, data: bytes) -> None:
        self.received(data, time.monotonic())

    def received(self, data: bytes, when: float) -> None:
        """``data`` arrived at ``when`` (earlier than now for bytes read before a hand-off)."""
        self.clock.feed(data, when)
        self._arm()
        self.inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self.inner.eof_received()

    def pause_writing(self) -> None:
        self.inner.pause_writing()

    def resume_writing(self) -> None:
        self.inner.resume_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._transport = None
        try:
            self.inner.connection_lost(exc)
        finally:
            if self.on_lost is not None:
                on_lost, self.on_lost = self.on_lost, None
                on_lost()

    def _arm(self) -> None:
        due = self.clock.due
        if due == self._timer_at:
            return  # the same head still under way (or still none): the timer stands
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._timer_at = due
        if due is not None and self._transport is not None:
            # on the monotonic clock, as ``due``; the loop's clock is the same one on every platform asyncio runs
            self._timer = asyncio.get_running_loop().call_at(due, self._check)

    def _check(self) -> None:
        self._timer, self._timer_at = None, None
        due = self.clock.due
        if due is None or self._transport is None:
            return
        if due > time.monotonic():
            self._arm()
            return
        self.overdue = True
        self._transport.close()


class OverCapReply(asyncio.Protocol):
    """A connection over the cap: ``reply`` written at once, nothing read, cut after ``linger`` seconds; when
    ``answers`` has as many lingering as it allows, reset at once instead (``transport`` stays None). While it
    lingers its transport is in ``lingering``, for a listener that closes to cut at once."""

    def __init__(self, reply: bytes, answers: OverCapAnswers, linger: float,
                 lingering: set[asyncio.Transport]) -> None:
        self._reply, self._answers, self._linger, self._lingering = reply, answers, linger, lingering
        self._cut: asyncio.TimerHandle | None = None
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        if not self._answers.take():
            transport.abort()
            return
        self.transport = transport
        self._cut = asyncio.get_running_loop().call_later(self._linger, transport.abort)
        self._lingering.add(transport)
        transport.pause_reading()
        transport.write(self._reply)
        if transport.can_write_eof():
            transport.write_eof()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._cut is not None:
            self._cut.cancel()
            self._cut = None
            self._answers.give_back()
        if self.transport is not None:
            self._lingering.discard(self.transport)
        self.transport = None
