"""The node's HTTP client of the tracker cluster (API v1 in docs/INTERFACES.md).

Theory of operation: the trackers of the list are tried in rank order, starting with the one that answered last (so
after a failover the node stays with the tracker that works rather than flapping back). A connection error or a 5xx
moves on to the next tracker at once; a 4xx is the tracker's answer (raised as the matching ``wire.errors`` class),
and the tracker that gave it is the one to start with next time, as for a 2xx. A tracker that does not answer within
``hedge_s`` (frozen, or its machine cut off: nothing refuses the connection) is not waited on alone for the whole
``timeout_s``: the next tracker is asked too, and the first answer wins, the others cancelled (a write carries one
op_id in every copy, so the cluster applies it once). A redirect is a failure like a 5xx: no tracker sends one (a
secondary relays), and following one would carry the session token wherever it pointed. When every tracker failed,
another round follows after a short pause, for up to ``retry_s`` seconds (an election takes a few seconds); only
then is ``Unavailable`` raised, and the cluster counts as unreachable (``reachable``, what the status line shows)
until some tracker answers again. While it is, a call makes one round and fails at once: a page or command then says
so in moments instead of waiting ``retry_s`` every time, and the heartbeat, which calls on, finds the cluster again
when it is back. Every write carries an ``op_id`` made once per call and reused on each retry, so a write that
reached a tracker which then died is applied once by the cluster.

A tracker that asks to slow down (429, or 503 with ``Retry-After``: alive, busy) is waited out here, within the
call's ``Patience`` (``tracker_patience.py``: which refusals, how long, why): a 429 is an answer, so the call waits
its ``Retry-After`` and sends the same request (same op_id) again; a busy 503 moves on to the next tracker at once
like any 5xx, and is asked again once its ``Retry-After`` is over. A refusal past the patience, and a login lockout,
reach the caller as they came. A caller that holds something back while its request is at a tracker (a password
check pauses the heartbeat: ``session_commands.confirm_login``) passes ``waiting``, a context entered while the call
waits with nothing of it at any tracker, so that what it holds back goes on during a wait of up to 20 s. A call
made for one login passes its session as ``token``: every attempt is sent under it, so a write resent after a wait
cannot become the write of whoever logged in on the node meanwhile (a refused op_id is new to the tracker).
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import random
import re
import time
import uuid
from collections.abc import Callable, Iterable
from contextlib import AbstractAsyncContextManager, nullcontext
from typing import Any
from urllib.parse import quote

import aiohttp

from peer_node.tracker_clock import WARN_S, TrackerClock, skew_words
from peer_node.tracker_patience import PATIENCE_S, Patience, Pauses, retry_after_s
from wire.errors import GroupShareError, LoginLocked, TooManyRequests, Unavailable, error_from_code
from wire.tracker_list import TrackerAddress

log = logging.getLogger(__name__)

API = "/api/v1"
ROUND_PAUSE_S = 0.5
SKEW_TOLD_EVERY_S = 3600.0
HEDGE_S = 2.0  # a tracker silent this long: ask the next one too (trackers answer in milliseconds when well)
# The tracker's fast path answers these only on a connection that has carried nothing else (any other request
# hands the connection to aiohttp for good: docs/TRACKER.md), so they travel in a connection pool of their own.
HOT_LIST = re.compile(r"/groups/[^/]+/files")
TIMED_OUT = "no answer within"
MAX_ANSWER_BYTES = 64 * 1024 * 1024  # a file's metadata with 2,000 piece hashes is ~150 KB; this is a sanity cap


def is_hot(method: str, path: str) -> bool:
    """A heartbeat or a group's file list: the calls the tracker answers from its fast path."""
    return (method == "POST" and path == "/heartbeat") or (method == "GET" and HOT_LIST.fullmatch(path) is not None)


def path_of(*parts: str) -> str:
    """Build an API path from raw segments, each percent-encoded (names may hold spaces or unicode)."""
    return "/" + "/".join(quote(p, safe="") for p in parts)


class _Retry(Exception):
    """This tracker failed in a way another tracker might not (connection, timeout, 5xx)."""


class _Busy(_Retry):
    """A 503 with ``Retry-After``: this tracker is alive but busy (its password hashers, its connections from this
    address), and takes requests again in ``retry_after`` seconds."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


Waiting = Callable[[], AbstractAsyncContextManager[object]]  # ``call``'s ``waiting``: the module docstring


def _no_hold() -> AbstractAsyncContextManager[object]:
    return nullcontext()


class _RoundFailed(Exception):
    """Every tracker of the list failed, and none is left to ask again or to wait for."""


class TrackerClient:
    def __init__(self, trackers: tuple[TrackerAddress, ...] | list[TrackerAddress], timeout_s: float = 10.0,
                 retry_s: float = 6.0, hedge_s: float = HEDGE_S, patience_s: float = PATIENCE_S) -> None:
        if not trackers:
            raise ValueError("no tracker")
        self.trackers = list(trackers)
        self.timeout_s = timeout_s
        self.retry_s = retry_s  # how long to keep trying rounds of the whole list when every tracker fails
        self.hedge_s = hedge_s
        self.patience_s = patience_s  # how long one call may wait out "slow down" answers (tracker_patience.py)
        self.session_token: str | None = None
        self._current = 0  # index into trackers of the tracker that answered last
        self._reachable = True  # False from a call that found no tracker until one answers again
        self._http: aiohttp.ClientSession | None = None
        self._hot_http: aiohttp.ClientSession | None = None  # heartbeats and file lists only (HOT_LIST)
        self.clock = TrackerClock()  # the trackers' time, from their answers: the piece server checks tokens by it
        self._skew_told_at = -math.inf
        self.pauses = Pauses()  # the calls waiting out a "slow down" now

    # --- lifecycle
    async def start(self) -> None:
        if self._http is None:
            timeout = aiohttp.ClientTimeout(total=self.timeout_s)
            self._http = aiohttp.ClientSession(timeout=timeout, raise_for_status=False)
            self._hot_http = aiohttp.ClientSession(timeout=timeout, raise_for_status=False)

    async def close(self) -> None:
        for session in (self._http, self._hot_http):
            if session is not None:
                await session.close()
        self._http = self._hot_http = None

    # --- what the status page shows
    @property
    def current(self) -> TrackerAddress:
        return self.trackers[self._current]

    @property
    def failed_over(self) -> bool:
        return self._current != 0

    @property
    def reachable(self) -> bool:
        """False once a call found no tracker in all its rounds, until a tracker answers again."""
        return self._reachable

    def paced_for(self) -> float | None:
        """Seconds until a call waiting out a tracker's "slow down" asks again; None when none waits."""
        return self.pauses.left(time.monotonic())

    # --- calls
    async def get(self, path: str) -> dict[str, Any]:
        return await self.call("GET", path)

    async def write(self, method: str, path: str, body: dict[str, Any] | None = None,
                    *, auth: bool = True, op_id: str | None = None, waiting: Waiting | None = None,
                    token: str | None = None) -> dict[str, Any]:
        """A mutating call: gets an op_id (``op_id``, or a new one) that every retry reuses."""
        doc = dict(body or {})
        doc["op_id"] = op_id or uuid.uuid4().hex
        return await self.call(method, path, doc, auth=auth, waiting=waiting, token=token)

    async def call(self, method: str, path: str, body: dict[str, Any] | None = None, *, auth: bool = True,
                   waiting: Waiting | None = None, token: str | None = None) -> dict[str, Any]:
        """One request, to whichever tracker answers (the module docstring); ``waiting`` is entered while the call
        waits out a "slow down" with nothing of it at any tracker; ``token``: the session every attempt is sent
        under (else the client's at each attempt)."""
        if self._http is None:
            await self.start()
        loop = asyncio.get_running_loop()
        patience = Patience(loop.time(), self.patience_s, random.random)
        waited = 0.0  # seconds spent waiting out "slow down" answers in this call
        while True:
            give_up = loop.time() + (self.retry_s if self._reachable else 0.0)
            attempts = _Attempts(self, method, path, body, auth, patience, waiting or _no_hold, token)
            try:
                return await attempts.run(give_up)
            except TooManyRequests as exc:  # an answer: this tracker said "slow down"
                wait = patience.wait(exc, loop.time())
                if wait is None:
                    if waited:  # "try again in 1 s" alone, after 20 s spent, would read as if nothing was tried
                        raise type(exc)(f"{exc.message} (this node waited {math.ceil(waited)} s for it already)",
                                        retry_after=exc.retry_after) from None
                    raise
                said = exc.message
            except _RoundFailed:
                if not attempts.busy_seen:  # a tracker that said "busy" is there: the cluster is reachable
                    self._reachable = False
                maybe_done = _maybe_done(body, attempts.errors.values())
                raise (UnansweredWrite if maybe_done else Unavailable)(
                    "no tracker could answer (" + " | ".join(attempts.errors.values()) + "); " +
                    (MAYBE_DONE if maybe_done else TRY_AGAIN)) from None
            finally:
                await attempts.cancel()
            log.debug("%s %s: the tracker said %r; sending it again in %.1f s", method, path, said, wait)
            with self.pauses.holding(time.monotonic() + wait):
                async with (waiting or _no_hold)():
                    await asyncio.sleep(wait)
            waited += wait
            if self._http is None:  # closed while we waited: the node is stopping
                raise Unavailable("the node stopped before the tracker could take this")

    def _answered_by(self, index: int) -> None:
        if index != self._current:
            tracker = self.trackers[index]
            log.warning("now using tracker %s (rank %d)", tracker, tracker.rank)
            self._current = index
        self._reachable = True

    async def _one(self, url: str, method: str, body: dict[str, Any] | None, auth: bool,
                   hot: bool, token: str | None = None) -> dict[str, Any]:
        http = self._hot_http if hot else self._http
        assert http is not None
        headers = {"Accept": "application/json"}
        bearer = self.session_token if token is None else token
        if auth and bearer:
            headers["Authorization"] = f"Bearer {bearer}"
        data = json.dumps(body).encode("utf-8") if body is not None else None
        if data is not None:
            headers["Content-Type"] = "application/json"
        try:
            async with http.request(method, url, data=data, headers=headers, allow_redirects=False) as resp:
                if 300 <= resp.status < 400:
                    raise _Retry(f"it answered HTTP {resp.status} (a redirect), which no tracker sends")
                self._heard_time(resp.headers.get("Date"))
                # read(n) returns what has arrived so far, not n bytes: loop to the end (or the cap)
                buf = bytearray()
                while len(buf) <= MAX_ANSWER_BYTES:
                    chunk = await resp.content.read(MAX_ANSWER_BYTES + 1 - len(buf))
                    if not chunk:
                        break
                    buf += chunk
                return self._answer(resp.status, bytes(buf), resp.headers.get("Retry-After"))
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise _Retry(self._why(exc)) from None

    def _heard_time(self, date_header: str | None) -> None:
        self.clock.heard(date_header)
        offset = self.clock.offset
        if abs(offset) >= WARN_S and time.monotonic() - self._skew_told_at >= SKEW_TOLD_EVERY_S:
            self._skew_told_at = time.monotonic()
            log.warning("%s: this node reads the trackers' time for peers' access, but set the clock right (turn on "
                        "network time) (said again every hour while it lasts)", skew_words(offset))

    def _why(self, exc: BaseException) -> str:
        """A failed call's cause in a user's words: it ends up in an error line or page."""
        if isinstance(exc, TimeoutError):
            return f"{TIMED_OUT} {self.timeout_s:g} s"
        if isinstance(exc, aiohttp.ClientConnectorError):
            return "connection refused" if isinstance(exc.os_error, ConnectionRefusedError) else (
                f"cannot connect: {exc.os_error.strerror or exc.os_error}")
        if isinstance(exc, aiohttp.ServerDisconnectedError):
            return "it closed the connection"
        return type(exc).__name__ + (f": {exc}" if str(exc) else "")

    @staticmethod
    def _answer(status: int, raw: bytes, retry_after: str | None) -> dict[str, Any]:
        if len(raw) > MAX_ANSWER_BYTES:
            raise _Retry("answer too large")
        try:
            doc = json.loads(raw) if raw else {}
        except (ValueError, RecursionError):  # RecursionError: JSON nested past Python's limit
            doc = None
        if status >= 500:
            # The tracker's own words when it has them ("no primary tracker reachable right now": it is up, but
            # has no majority), else the status
            err = doc.get("error") if isinstance(doc, dict) else None
            said = err.get("message") if isinstance(err, dict) else None
            why = f"HTTP {status}: {' '.join(said.split())[:200]}" if isinstance(said, str) and said.strip() \
                else f"HTTP {status}"
            busy_for = retry_after_s(retry_after) if status == 503 else None
            raise _Retry(why) if busy_for is None else _Busy(why, busy_for)
        if not isinstance(doc, dict):
            raise _Retry(f"HTTP {status} with a body that is not a JSON object")
        if status < 300:
            return doc
        err = doc.get("error")
        code, message = "bad_request", f"tracker answered HTTP {status}"
        if isinstance(err, dict):
            code = str(err.get("code", code))
            message = str(err.get("message", message))
        if status == 429:
            wait = retry_after_s(retry_after)
            refusal = LoginLocked if code == LoginLocked.code else TooManyRequests
            raise refusal(message, retry_after=1 if wait is None else wait)
        exc: GroupShareError = error_from_code(code, message)
        if exc.status != status and type(exc) is GroupShareError:
            exc.status = status  # an unknown code: keep the tracker's status
        raise exc


class UnansweredWrite(Unavailable):
    """A write some tracker took and did not answer (``MAYBE_DONE``): it may be applied once that tracker goes on."""


TRY_AGAIN = "try again in a moment"
# A write that a tracker may have received and not answered: a stalled tracker applied it once it went on, and the
# user, told to try again, was refused ("taken"). Their retry is a new command, with an op_id of its own.
MAYBE_DONE = "it may have been done all the same: look before you try again"


def _maybe_done(body: dict[str, Any] | None, errors: Iterable[str]) -> bool:
    """A write (it has an op_id) that some tracker took and did not answer ("host:port: no answer within 10 s")."""
    return body is not None and "op_id" in body and any(f": {TIMED_OUT} " in e for e in errors)


class _Attempts:
    """One call's requests to the trackers (the module's docstring): asked in rank order from the current one, the
    next too when the ones asked are silent past ``hedge_s`` or one failed; a failed one asked again after
    ``ROUND_PAUSE_S`` until ``give_up`` (an election takes a few seconds), a busy one once its Retry-After is over
    (if that is within the call's patience), while a silent one stays asked. The first answer wins; a 4xx is an
    answer. Raises _RoundFailed once nobody is left to wait for."""

    def __init__(self, client: TrackerClient, method: str, path: str, body: dict[str, Any] | None,
                 auth: bool, patience: Patience, waiting: Waiting = _no_hold, token: str | None = None) -> None:
        self.client, self.method, self.path, self.body, self.auth = client, method, path, body, auth
        self.patience, self.waiting, self.token = patience, waiting, token
        n = len(client.trackers)
        self.fresh = [(client._current + step) % n for step in range(n)]  # not asked yet in this call
        self.failed_at: dict[int, float] = {}  # asked, failed, not asked again yet
        self.busy: dict[int, float] = {}  # answered busy (503 + Retry-After): not asked again before this time
        self.busy_seen = False  # some tracker answered busy: it is up
        self.errors: dict[int, str] = {}  # each tracker's last failure, for the message
        self.asking: dict[asyncio.Task[dict[str, Any]], int] = {}
        self.asked_at = 0.0

    def _ask(self, index: int, now: float) -> None:
        url = self.client.trackers[index].url + API + self.path
        task = asyncio.create_task(self.client._one(url, self.method, self.body, self.auth,
                                                    is_hot(self.method, self.path), self.token))
        self.asking[task] = index
        self.failed_at.pop(index, None)
        self.busy.pop(index, None)
        self.asked_at = now

    def _due_again(self, now: float, give_up: float) -> list[int]:
        """Failed trackers whose pause is over (until ``give_up``), and busy ones whose Retry-After is."""
        busy = [i for i, until in self.busy.items() if until <= now]
        if now > give_up:
            return busy
        return [i for i, at in self.failed_at.items() if now - at >= ROUND_PAUSE_S] + busy

    async def run(self, give_up: float) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        self._ask(self.fresh.pop(0), loop.time())
        while True:
            now = loop.time()
            if self.fresh and (not self.asking or now - self.asked_at >= self.client.hedge_s):
                self._ask(self.fresh.pop(0), now)
                continue
            if not self.fresh:
                for index in self._due_again(now, give_up):
                    self._ask(index, now)
            waits = [self.asked_at + self.client.hedge_s - now] if self.fresh else []
            if self.failed_at and now <= give_up:
                waits.append(min(self.failed_at.values()) + ROUND_PAUSE_S - now)
            if self.busy:
                waits.append(min(self.busy.values()) - now)
            if not self.asking:
                if not waits:
                    raise _RoundFailed
                pause = max(0.0, min(waits))
                with self.client.pauses.holding(time.monotonic() + pause) if self.busy else nullcontext():
                    async with self.waiting() if self.busy else nullcontext():  # a busy one's wait: up to 20 s
                        await asyncio.sleep(pause)
                continue
            done, _ = await asyncio.wait(self.asking, timeout=max(0.0, min(waits)) if waits else None,
                                         return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                index = self.asking.pop(task)
                failure = task.exception()
                if isinstance(failure, _Retry):
                    tracker = self.client.trackers[index]
                    self.errors[index] = f"{tracker}: {failure}"
                    if isinstance(failure, _Busy):  # asked again once its Retry-After is over, if within patience
                        self.busy_seen = True
                        until = self.patience.busy_until(failure.retry_after, loop.time())
                        if until is not None:
                            self.busy[index] = until
                    else:
                        self.failed_at[index] = loop.time()
                    log.debug("tracker %s failed (%s)", tracker, failure)  # the caller tells
                    if self.fresh:
                        self._ask(self.fresh.pop(0), loop.time())  # a failure moves on at once
                    continue
                self.client._answered_by(index)  # a 4xx too: this tracker works, it said no
                if failure is not None:
                    raise failure
                return task.result()

    async def cancel(self) -> None:
        for task in self.asking:
            task.cancel()
        await asyncio.gather(*self.asking, return_exceptions=True)
