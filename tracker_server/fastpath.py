"""The tracker's fast path: heartbeats and list_files answered without aiohttp's per-request machinery.

Why: under the hot-path load of issue 7 (wrk, 200 connections of heartbeats and list_files) aiohttp's own work
(a task per request, the request and response objects, routing, middleware, header rendering) was about 90% of
the tracker's loop, and capped it at the rate of a bare aiohttp server with a dict (3,800-6,000 req/s on the
2-core machines here). Both hot answers are already synchronous and from memory, so the fast path frames them
(``http_frame``), calls the same answer functions as the aiohttp handlers and writes one pre-rendered response.

What stays aiohttp's: every other request, and every request on a secondary (it forwards). The first request on
a connection that the fast path does not take hands the connection to aiohttp for good: aiohttp's protocol gets
the transport and the unread bytes, from that request's first byte on. A request not in ``http_frame``'s narrow
form goes the same way, so aiohttp's strict parser answers every malformed one. Answers match aiohttp's: the same
status, body and ``Content-Type``, keep-alive unless the client asked to close.

Back-pressure: while the transport's write buffer is over its high-water mark the fast path stops answering and
stops reading, so a client that pipelines without reading holds one buffer, not an unbounded queue.

Holding the tracker (``conn_guard.py`` says what the audit found): a heartbeat whose body is still coming is
refused (401, then the connection closed) as soon as its head shows no live session, so no one buffers a body here
without a session, and any other request is handed to aiohttp as soon as its head is in, not after its body. Each
connection has deadlines (first byte, whole request, idle between requests) checked by a sweep every
``SWEEP_EVERY``: one clock read per read event, and no timer re-armed per request. Each client address has a cap
on simultaneous connections, counted until a connection closes, also once aiohttp has it (the sweep notices the
close: aiohttp's protocol does not tell us). A connection over it is answered 503 with ``Retry-After`` without being
read, and cut after ``LINGER`` (``conn_guard.OverCapAnswers``). Once aiohttp has a connection, each head it reads
keeps the request deadline from its first byte (``wire.guarded_conn.HeadGuard``): aiohttp's timer gave one 75 s.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

from aiohttp import web

from tracker_server.handlers import bearer_token
from tracker_server.held_bodies import MESSAGE as HELD_MESSAGE
from tracker_server.held_bodies import RETRY_S as HELD_RETRY_S
from tracker_server.held_bodies import HeldBodies
from tracker_server.hot_answers import (
    OVER_CAP_BODY,
    OVER_CAP_HEADER,
    Answer,
    Clock,
    Screen,
    error_body,
    hot_answer,
    hot_screen,
    render,
)
from tracker_server.http_frame import Head, Request, Verdict, read_request
from tracker_server.keys import HELD_BODIES
from wire.conn_guard import (
    DEFAULT_MAX_PER_ADDRESS,
    DEFAULT_OVER_CAP_ANSWERS,
    AddressCounts,
    Cutoffs,
    Deadlines,
    OverCapAnswers,
    key_of,
)
from wire.guarded_conn import HeadGuard, OverCapReply
from wire.head_clock import HeadClock

DEADLINES = Deadlines()
SWEEP_EVERY = 1.0  # a sweep is one comparison per connection: 10,000 connections cost about a millisecond
# How long a connection refused before its body stays open, reading and dropping what comes, after the refusal:
# closing a socket with unread bytes sends a reset, which may make the client's system drop our answer unread.
LINGER = 1.0


@dataclass
class FastPathCounts:
    """Requests answered on the fast path, and connections handed to aiohttp, since the listener started."""

    answered: int = 0
    handed_off: int = 0
    refused_early: int = 0  # heartbeats refused before their body (no live session)
    over_cap: int = 0  # connections answered 503 and cut (or reset): their address already had the most allowed
    over_cap_reset: int = 0  # of those, reset without an answer: ``OverCapAnswers.cap`` were lingering already
    overdue: int = 0  # connections closed by the sweep for a missed deadline
    handed_overdue: int = 0  # connections handed to aiohttp, closed for a head that missed its deadline


class _Shared(NamedTuple):
    """What every connection of one listener uses (one object to pass rather than eight)."""

    answer: Answer
    screen: Screen
    fallback: Callable[[], asyncio.Protocol]
    max_body: int
    live: set[FastPathProtocol]
    handed: dict[asyncio.Transport, str]  # connections handed to aiohttp, until the sweep sees them closed
    addresses: AddressCounts
    counts: FastPathCounts
    over_cap: OverCapAnswers
    clock: Clock  # the over-cap answer's Date
    answered: set[asyncio.Transport]  # over-cap connections answered, not yet cut: in no other list a close cuts
    head_limit: float  # seconds a head handed to aiohttp has from its first byte (``Deadlines.request``)
    bodies: HeldBodies  # bytes of bodies still coming, per session (``held_bodies.py``), aiohttp's ones included


class FastPathProtocol(asyncio.Protocol):
    """One client connection: answered here until a request the fast path does not take, then aiohttp's."""

    def __init__(self, shared: _Shared) -> None:
        self._shared = shared
        self._answer, self._max_body, self._counts = shared.answer, shared.max_body, shared.counts  # hot: one lookup
        self._buf = bytearray()
        self._head: Head | None = None  # the head of the request whose body is still coming
        self._held: tuple[str, int] | None = None  # (session, bytes) its body counts in ``shared.bodies``
        self._transport: asyncio.Transport | None = None
        self._key = ""  # the client's address key, counted in ``shared.addresses`` while set
        self._paused = False  # the transport's write buffer is full: answer nothing until it drains
        self._dropping = False  # refused before its body: read and drop what comes until closed
        self.started = time.monotonic()  # the connection's start, then the pending request's first byte's arrival
        self.last_read = 0.0  # no byte yet (the monotonic clock is far past 0 by the time anything connects)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        key = key_of(transport.get_extra_info("peername"))
        if not self._shared.addresses.admit(key):
            self._answer_over_cap(transport)
            return
        self._key = key
        self._transport = transport
        self._shared.live.add(self)

    def _answer_over_cap(self, transport: asyncio.Transport) -> None:
        """Say "busy, try again" without reading a byte, and cut the connection after ``LINGER``: by then the
        client has our answer, and what it sent, unread, only makes the cut a reset (``conn_guard``). The
        connection is ``OverCapReply``'s from here on (the node's web port answers the same way)."""
        shared = self._shared
        shared.counts.over_cap += 1
        reply = OverCapReply(render(503, OVER_CAP_BODY, True, shared.clock.date(), OVER_CAP_HEADER),
                             shared.over_cap, LINGER, shared.answered)
        transport.set_protocol(reply)
        reply.connection_made(transport)
        if reply.transport is None:  # as many answers lingering as allowed: reset at once, the descriptor freed
            shared.counts.over_cap_reset += 1

    def connection_lost(self, exc: Exception | None) -> None:
        self._release_body()
        self._transport = None
        self._shared.live.discard(self)
        if self._key:
            self._shared.addresses.release(self._key)
            self._key = ""

    def data_received(self, data: bytes) -> None:
        now = self.last_read = time.monotonic()
        if self._dropping:
            return
        if not self._buf:
            self.started = now
        self._buf += data
        if not self._paused:
            self._serve()

    def pause_writing(self) -> None:
        self._paused = True
        if self._transport is not None:
            self._transport.pause_reading()

    def resume_writing(self) -> None:
        self._paused = False
        if self._transport is not None:
            self._transport.resume_reading()
            self._serve()

    @property
    def paused(self) -> bool:
        return self._paused

    def overdue(self, cut: Cutoffs) -> bool:
        """Whether this connection missed a deadline (``conn_guard.Deadlines``) by the sweep's cut-offs."""
        if self._buf:  # a request under way: its deadline, and quiet for the idle timeout is quiet all the same
            return self.started < cut.request or self.last_read < cut.idle
        return self.started < cut.first_byte if self.last_read == 0.0 else self.last_read < cut.idle

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()

    def _serve(self) -> None:
        while self._buf and self._transport is not None and not self._paused:
            head = self._head
            if head is None:
                found = read_request(self._buf, self._max_body)
                if isinstance(found, Request):
                    request = found
                elif isinstance(found, Head):  # the body is still coming: decide on the head alone, once
                    verdict = self._shared.screen(found)
                    if verdict is True:
                        self._hold_body(found)
                    elif verdict is False:
                        self._hand_off()
                    else:
                        self._refuse(verdict)
                    return
                else:
                    if found is Verdict.HAND_OFF:
                        self._hand_off()
                    return
            elif len(self._buf) < head.size:
                return  # a trickled body costs a length check per chunk, not a framing of the head
            else:
                self._head = None
                self._release_body()
                request = head.request(self._buf)
            reply = self._answer(request)
            if reply is None:
                self._hand_off()
                return
            del self._buf[:request.size]
            if self._buf:  # a pipelined request's first bytes: its deadline runs from their arrival
                self.started = self.last_read
            self._transport.write(reply)
            self._counts.answered += 1
            if request.close:
                self._transport.close()
                return

    def _hold_body(self, head: Head) -> None:
        """Wait for the body of ``head`` (its session is live: the screen said so) if its session's allowance of
        held body bytes has room, else refuse it before its body (``held_bodies.py``)."""
        shared = self._shared
        token, size = bearer_token(head.headers.get("authorization", "")) or "", head.size - head.start
        if not shared.bodies.take(token, size):
            self._refuse(render(429, error_body("too_many_requests", HELD_MESSAGE), True, shared.clock.date(),
                                b"Retry-After: %d\r\n" % HELD_RETRY_S))
            return
        self._held = (token, size)
        self._head = head

    def _release_body(self) -> None:
        if self._held is not None:
            self._shared.bodies.give_back(*self._held)
            self._held = None

    def _refuse(self, reply: bytes) -> None:
        """Answer before the body, and close without reading it (``LINGER`` says why not at once)."""
        transport = self._transport
        assert transport is not None
        self._shared.counts.refused_early += 1
        self._dropping = True
        self._buf.clear()
        transport.write(reply)
        if transport.can_write_eof():
            transport.write_eof()
        asyncio.get_running_loop().call_later(LINGER, transport.close)

    def _hand_off(self) -> None:
        self._shared.counts.handed_off += 1
        transport = self._transport
        assert transport is not None
        self._transport = None
        self._shared.live.discard(self)
        self._shared.handed[transport] = self._key  # still counted for its address, until it closes
        self._key = ""
        # aiohttp has no deadline for a head but its keep-alive timer (75 s, bytes do not reset it): each head it
        # reads here, this one and every later one, gets the fast path's request deadline (``wire.head_clock``)
        guard = HeadGuard(self._shared.fallback(), HeadClock(self._shared.head_limit))
        guard.on_lost = self._count_overdue(guard)
        transport.set_protocol(guard)
        guard.connection_made(transport)
        if self._buf:
            guard.received(bytes(self._buf), self.started)  # its clock runs from the request's first byte
        self._buf.clear()
        self._head = None


    def _count_overdue(self, guard: HeadGuard) -> Callable[[], None]:
        counts = self._shared.counts

        def lost() -> None:
            if guard.overdue:
                counts.handed_overdue += 1

        return lost


class FastPathListener:
    """The tracker's listening socket: each connection starts on the fast path (instead of aiohttp's TCPSite)."""

    def __init__(self, server: asyncio.Server, shared: _Shared, deadlines: Deadlines, sweep_every: float) -> None:
        self._server = server
        self._shared = shared
        self.counts = shared.counts
        self.deadlines = deadlines
        self._sweep_every = sweep_every
        self._sweep = asyncio.get_running_loop().call_later(sweep_every, self._close_overdue)

    @classmethod
    async def start(cls, runner: web.AppRunner, app: web.Application, host: str, port: int, max_body: int, *,
                    idle_timeout: float = DEADLINES.idle, request_timeout: float = DEADLINES.request,
                    first_byte_timeout: float = DEADLINES.first_byte, sweep_every: float = SWEEP_EVERY,
                    max_per_address: int = DEFAULT_MAX_PER_ADDRESS,
                    over_cap_answers: int = DEFAULT_OVER_CAP_ANSWERS) -> FastPathListener:
        fallback = runner.server
        if fallback is None:
            raise RuntimeError("call runner.setup() first")
        deadlines = Deadlines(first_byte=first_byte_timeout, request=request_timeout, idle=idle_timeout)
        shared = _Shared(hot_answer(app), hot_screen(app), fallback, max_body, set(), {},
                         AddressCounts(max_per_address), FastPathCounts(), OverCapAnswers(over_cap_answers), Clock(),
                         set(), deadlines.request, app[HELD_BODIES])
        server = await asyncio.get_running_loop().create_server(
            lambda: FastPathProtocol(shared), host, port, reuse_address=True)
        return cls(server, shared, deadlines, sweep_every)

    def _close_overdue(self) -> None:
        cut = self.deadlines.cutoffs(time.monotonic())
        for protocol in [p for p in self._shared.live if p.overdue(cut)]:
            self._shared.counts.overdue += 1
            protocol.close()
        handed = self._shared.handed
        for transport in [t for t in handed if t.is_closing()]:
            self._shared.addresses.release(handed.pop(transport))
        self._sweep = asyncio.get_running_loop().call_later(self._sweep_every, self._close_overdue)

    @property
    def port(self) -> int:
        return int(self._server.sockets[0].getsockname()[1])

    def paused_connections(self) -> int:
        """Connections on the fast path waiting for their client to read (their reading paused meanwhile)."""
        return sum(1 for p in self._shared.live if p.paused)

    def connections_of(self, host: str) -> int:
        """Open connections counted for ``host``'s address (its /64 for IPv6), handed-off ones included."""
        return self._shared.addresses.held(key_of((host,)))

    def close(self) -> None:
        """Stop listening and close the connections still on the fast path, over-cap ones answered included
        (aiohttp closes the ones it has)."""
        self._sweep.cancel()
        self._server.close()
        for protocol in list(self._shared.live):
            protocol.close()
        for transport in list(self._shared.answered):  # their cut timers go with them (``connection_lost``)
            transport.abort()
