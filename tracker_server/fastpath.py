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

Idle connections: closed after ``IDLE_TIMEOUT`` without a byte from the client, aiohttp's own keep-alive default,
by a sweep every ``SWEEP_EVERY`` (one clock read per read event, rather than a timer re-armed per request).
"""

from __future__ import annotations

import asyncio
import email.utils
import http
import json
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass

from aiohttp import web

from tracker_server import handlers
from tracker_server.http_frame import Request, Verdict, frame
from tracker_server.keys import REPLICATOR, SERVICE
from wire.errors import GroupShareError, TooManyRequests, error_document
from wire.names import ID_RE

log = logging.getLogger(__name__)

HEARTBEAT = "/api/v1/heartbeat"
# Only a valid group id (``wire.names.ID_RE``) is taken here: any other target, one with a query or percent
# escapes included, is aiohttp's to route and refuse.
LIST_FILES = re.compile(rf"/api/v1/groups/({ID_RE.pattern})/files")

IDLE_TIMEOUT = 3630.0  # aiohttp's RequestHandler keepalive_timeout default, which the tracker's AppRunner keeps
SWEEP_EVERY = 60.0

# An answer function: the framed request to the full response bytes, or None when aiohttp must answer it.
Answer = Callable[[Request], bytes | None]


class _Clock:
    """The ``Date`` header's text, rendered once a second rather than once a request."""

    def __init__(self) -> None:
        self._second = -1
        self._text = b""

    def date(self) -> bytes:
        now = int(time.time())
        if now != self._second:
            self._second, self._text = now, email.utils.formatdate(now, usegmt=True).encode()
        return self._text


# Each status line with the fixed header, made once: rendering it per answer was a visible part of the profile.
_STARTS = {s.value: b"HTTP/1.1 %d %s\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: "
           % (s.value, s.phrase.encode()) for s in http.HTTPStatus}


def render(status: int, body: bytes, close: bool, date: bytes, extra: bytes = b"") -> bytes:
    """One complete HTTP/1.1 response with a JSON body, headers as aiohttp's ``json_response`` sends them."""
    return b"%s%d\r\nDate: %s\r\n%s%s\r\n%s" % (_STARTS[status], len(body), date,
                                                   b"Connection: close\r\n" if close else b"", extra, body)


def _error(code: str, message: str) -> bytes:
    return json.dumps(error_document(code, message)).encode()


def hot_answer(app: web.Application) -> Answer:
    """The answer function over a started tracker app (its service and replicator exist after ``runner.setup``)."""
    svc, replicator, clock = app[SERVICE], app[REPLICATOR], _Clock()

    def answer(req: Request) -> bytes | None:
        if not replicator.is_primary:
            return None  # a secondary forwards these: aiohttp's middleware does it
        auth = req.headers.get("authorization", "")
        try:
            if req.method == "POST" and req.target == HEARTBEAT:
                body = handlers.heartbeat_answer(svc, auth, req.body)
            elif req.method == "GET" and not req.body and (m := LIST_FILES.fullmatch(req.target)):
                body = handlers.list_files_answer(svc, auth, m[1])
            else:
                return None
        except GroupShareError as exc:
            retry = b"Retry-After: %d\r\n" % exc.retry_after if isinstance(exc, TooManyRequests) else b""
            return render(exc.status, _error(exc.code, exc.message), req.close, clock.date(), retry)
        except Exception:  # a bug, not a refusal: aiohttp would answer 500 too, and the connection stays usable
            log.exception("fast path: %s %s failed", req.method, req.target)
            return render(500, _error("internal_error", "internal error"), req.close, clock.date())
        return render(200, body, req.close, clock.date())

    return answer


@dataclass
class FastPathCounts:
    """Requests answered on the fast path, and connections handed to aiohttp, since the listener started."""

    answered: int = 0
    handed_off: int = 0


class FastPathProtocol(asyncio.Protocol):
    """One client connection: answered here until a request the fast path does not take, then aiohttp's."""

    def __init__(self, answer: Answer, fallback: Callable[[], asyncio.Protocol], max_body: int,
                 live: set[FastPathProtocol], counts: FastPathCounts) -> None:
        self._answer = answer
        self._fallback = fallback
        self._max_body = max_body
        self._live = live
        self._counts = counts
        self._buf = bytearray()
        self._transport: asyncio.Transport | None = None
        self._paused = False  # the transport's write buffer is full: answer nothing until it drains
        self.last_read = time.monotonic()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        self._live.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None
        self._live.discard(self)

    def data_received(self, data: bytes) -> None:
        self.last_read = time.monotonic()
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

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()

    def _serve(self) -> None:
        while self._buf and self._transport is not None and not self._paused:
            request = frame(self._buf, self._max_body)
            if isinstance(request, Verdict):
                if request is Verdict.HAND_OFF:
                    self._hand_off()
                return
            reply = self._answer(request)
            if reply is None:
                self._hand_off()
                return
            del self._buf[:request.size]
            self._transport.write(reply)
            self._counts.answered += 1
            if request.close:
                self._transport.close()
                return

    def _hand_off(self) -> None:
        self._counts.handed_off += 1
        transport = self._transport
        assert transport is not None
        self._transport = None
        self._live.discard(self)
        protocol = self._fallback()
        transport.set_protocol(protocol)
        protocol.connection_made(transport)
        if self._buf:
            protocol.data_received(bytes(self._buf))
        self._buf.clear()


class FastPathListener:
    """The tracker's listening socket: each connection starts on the fast path (instead of aiohttp's TCPSite)."""

    def __init__(self, server: asyncio.Server, live: set[FastPathProtocol], counts: FastPathCounts,
                 idle_timeout: float, sweep_every: float) -> None:
        self._server = server
        self._live = live
        self.counts = counts
        self._idle_timeout = idle_timeout
        self._sweep_every = sweep_every
        self._sweep = asyncio.get_running_loop().call_later(sweep_every, self._close_idle)

    @classmethod
    async def start(cls, runner: web.AppRunner, app: web.Application, host: str, port: int, max_body: int, *,
                    idle_timeout: float = IDLE_TIMEOUT, sweep_every: float = SWEEP_EVERY) -> FastPathListener:
        answer, fallback = hot_answer(app), runner.server
        if fallback is None:
            raise RuntimeError("call runner.setup() first")
        live: set[FastPathProtocol] = set()
        counts = FastPathCounts()
        server = await asyncio.get_running_loop().create_server(
            lambda: FastPathProtocol(answer, fallback, max_body, live, counts), host, port, reuse_address=True)
        return cls(server, live, counts, idle_timeout, sweep_every)

    def _close_idle(self) -> None:
        quiet_since = time.monotonic() - self._idle_timeout
        for protocol in [p for p in self._live if p.last_read < quiet_since]:
            protocol.close()
        self._sweep = asyncio.get_running_loop().call_later(self._sweep_every, self._close_idle)

    @property
    def port(self) -> int:
        return int(self._server.sockets[0].getsockname()[1])

    def paused_connections(self) -> int:
        """Connections on the fast path waiting for their client to read (their reading paused meanwhile)."""
        return sum(1 for p in self._live if p.paused)

    def close(self) -> None:
        """Stop listening and close the connections still on the fast path (aiohttp closes the ones it has)."""
        self._sweep.cancel()
        self._server.close()
        for protocol in list(self._live):
            protocol.close()
