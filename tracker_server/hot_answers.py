"""The tracker's hot answers, as the fast path (``fastpath.py``) writes them: heartbeats and list_files framed by
``http_frame``, answered by the same functions as the aiohttp handlers, rendered as aiohttp renders them.

Here rather than in ``fastpath.py``: what to answer (pure, but for the clock) apart from how connections are held.
"""

from __future__ import annotations

import email.utils
import http
import json
import logging
import re
import time
from collections.abc import Callable

from aiohttp import web

from tracker_server import handlers
from tracker_server.http_frame import Head, Request
from tracker_server.keys import REPLICATOR, SERVICE
from wire.conn_guard import OVER_CAP_MESSAGE, OVER_CAP_RETRY_S
from wire.errors import GroupShareError, TooManyRequests, error_document
from wire.names import ID_RE

log = logging.getLogger("tracker_server.fastpath")  # the name its failures were always logged under

HEARTBEAT = "/api/v1/heartbeat"
# Only a valid group id (``wire.names.ID_RE``) is taken here: any other target, one with a query or percent
# escapes included, is aiohttp's to route and refuse.
LIST_FILES = re.compile(rf"/api/v1/groups/({ID_RE.pattern})/files")

# An answer function: the framed request to the full response bytes, or None when aiohttp must answer it.
Answer = Callable[[Request], bytes | None]
# A screen: a head whose body is still coming to True (wait for the body here), False (aiohttp's at once) or the
# bytes of a refusal to send before the body, after which the connection closes.
Screen = Callable[[Head], bytes | bool]


class Clock:
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


def error_body(code: str, message: str) -> bytes:
    return json.dumps(error_document(code, message)).encode()


OVER_CAP_BODY = error_body("unavailable", OVER_CAP_MESSAGE)
OVER_CAP_HEADER = b"Retry-After: %d\r\n" % OVER_CAP_RETRY_S


def hot_answer(app: web.Application) -> Answer:
    """The answer function over a started tracker app (its service and replicator exist after ``runner.setup``)."""
    svc, replicator, clock = app[SERVICE], app[REPLICATOR], Clock()

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
            return render(exc.status, error_body(exc.code, exc.message), req.close, clock.date(), retry)
        except Exception:  # a bug, not a refusal: aiohttp would answer 500 too, and the connection stays usable
            log.exception("fast path: %s %s failed", req.method, req.target)
            return render(500, error_body("internal_error", "internal error"), req.close, clock.date())
        return render(200, body, req.close, clock.date())

    return answer


def hot_screen(app: web.Application) -> Screen:
    """The screen over a started tracker app: only a heartbeat with a live session waits for its body here."""
    svc, replicator, clock = app[SERVICE], app[REPLICATOR], Clock()

    def screen(head: Head) -> bytes | bool:
        if not replicator.is_primary or head.method != "POST" or head.target != HEARTBEAT:
            return False  # a GET with a body is aiohttp's too (``answer`` takes none)
        try:
            svc.session(handlers.bearer_token(head.headers.get("authorization", "")))
        except GroupShareError as exc:
            return render(exc.status, error_body(exc.code, exc.message), True, clock.date())
        return True

    return screen

