"""The trackers' own HTTP doors: signed internal routes (status, vote, append, digest; a snapshot's are in
``snapshot_routes.py``), and the code by which a secondary forwards writes to the primary.

Theory of operation: internal routes accept only requests signed with the cluster key (``cluster_auth``); the
follower side of replication lives here: an append is accepted only when its ``prev`` matches our newest entry
(or it repeats entries we hold), and is written to SQLite and applied to memory under one lock, in order. A
secondary forwards every API write, every peer heartbeat and the reads that depend on liveness to the primary and
relays its answer; when no primary is reachable a write is 503 (the client retries elsewhere) while heartbeats and
reads are answered from local state. A relay is given up as soon as this tracker stops hearing the primary it went
to (frozen: a SIGSTOP, a machine cut off), not after the relay's own 15 s: heartbeats and reads are then answered
from local state at once, and a write waits for the election that follows (while enough trackers answer to hold
one) and goes to its winner, this tracker included. So a client waits about as long as the election, not past its
own patience, and gets the write's answer rather than a 503 to retry.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import sqlite3
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from aiohttp import web

from tracker_server import election, snapshot_codec
from tracker_server.cluster_auth import SIGNATURE_REFUSED, verify, verify_head
from tracker_server.keys import REPLICATOR, STORE, STORE_HEALTH
from tracker_server.replication import Replicator
from tracker_server.state import Entry
from tracker_server.store_health import store_error
from tracker_server.throttle import sign_client
from wire.errors import BadInput, Forbidden, GroupShareError, TooLarge, Unavailable

log = logging.getLogger(__name__)
MAX_INTERNAL_BODY = 512 << 20
BODY_IN_THREAD_BYTES = 1 << 20
FORWARDED = "X-GS-Forwarded-By"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
routes = web.RouteTableDef()


def internal_route(handler: Callable[[web.Request], Awaitable[web.Response]]) -> Callable[[web.Request],
                                                                                    Awaitable[web.Response]]:
    """Signed peers are trusted, not infallible: a message missing a field is a 400, not a 500."""

    @functools.wraps(handler)
    async def checked(request: web.Request) -> web.Response:
        try:
            return await handler(request)
        except (KeyError, TypeError, ValueError, AttributeError, RecursionError) as exc:  # Recursion: JSON too deep
            raise BadInput(f"malformed internal message: {type(exc).__name__}") from None

    return checked


async def read_signed(request: web.Request) -> tuple[Replicator, dict[str, Any]]:
    rep = request.app[REPLICATOR]
    if request.content_length is not None and request.content_length > MAX_INTERNAL_BODY:
        raise TooLarge("internal message too large")
    if not verify_head(rep.link.key, request.method, request.path, request.headers, request.content_length,
                       time.time()):
        raise Forbidden(SIGNATURE_REFUSED)
    chunks: list[bytes] = []
    total = 0
    async for chunk in request.content.iter_chunked(1 << 16):  # not request.read(): the app caps that at 1 MiB
        total += len(chunk)
        if total > MAX_INTERNAL_BODY:
            raise TooLarge("internal message too large")
        chunks.append(chunk)
    wanted = {name: request.headers.get(name, "") for name in ("X-GS-From", "X-GS-Time", "X-GS-Signature")}
    # A snapshot (100+ MB) is hashed and decoded in a worker thread, in pieces (snapshot_codec.py): on the
    # event loop it stopped this tracker for seconds. A ping or a write's append is done at once, by json.loads:
    # a thread's round trip, or the walk in pieces, would only make it slower.
    big = total > BODY_IN_THREAD_BYTES
    args = (rep.link.key, request.method, request.path, wanted, chunks, time.time(), big)
    sender, body = await asyncio.to_thread(_open_body, *args) if big else _open_body(*args)
    if sender is None or sender not in rep.peers:
        raise Forbidden(SIGNATURE_REFUSED)
    if not isinstance(body, dict):
        raise Forbidden("internal route: body must be a JSON object")
    body["_sender"] = sender
    return rep, body


def _open_body(key: bytes, method: str, path: str, headers: dict[str, str], chunks: list[bytes], now: float,
               in_pieces: bool) -> tuple[int | None, Any]:
    """The sender (None: a bad signature, and the body is not even decoded) and the decoded body. A big one
    (``in_pieces``) is never joined whole: one join (or UTF-8 decoding) of a 100 MB body holds the GIL ~100 ms."""
    sender = verify(key, method, path, headers, chunks, now)
    if sender is None:
        return None, None
    if not any(chunks):
        return sender, {}
    return sender, snapshot_codec.decode(chunks, depth=3) if in_pieces else json.loads(b"".join(chunks))


@routes.post("/internal/v1/status")
@internal_route
async def status(request: web.Request) -> web.Response:
    rep, body = await read_signed(request)
    await rep.heard(body["_sender"], body)
    return web.json_response(rep.status())


@routes.post("/internal/v1/vote")
@internal_route
async def vote(request: web.Request) -> web.Response:
    rep, body = await read_signed(request)
    async with rep.follow_lock:
        epoch = int(body["epoch"])
        granted = election.grant_vote(
            my_epoch=rep.svc.state.epoch, my_position=(rep.writer.durable[1], rep.writer.durable[0]),
            i_am_primary=rep.is_primary, primary_heard_at=rep.primary_heard_at,
            candidate_epoch=epoch, candidate_position=(int(body["last_epoch"]), int(body["last_index"])),
            now=time.monotonic(), timeout=rep.cfg.tracker_timeout)
        if granted and not body.get("pre"):
            await rep.adopt_epoch(epoch)
            rep.primary_no, rep.primary_heard_at = None, time.monotonic()  # let the candidate finish
    return web.json_response({"granted": granted, "epoch": rep.svc.state.epoch})


def position_answer(rep: Replicator, ok: bool) -> web.Response:
    return web.json_response({"ok": ok, "epoch": rep.svc.state.epoch, "last_index": rep.writer.durable[0],
                              "last_epoch": rep.writer.durable[1]})


async def leader_message(rep: Replicator, body: dict[str, Any]) -> bool:
    """Common to append and snapshot: refuse an old epoch; otherwise follow the sender."""
    epoch = int(body["epoch"])
    if epoch < rep.svc.state.epoch:
        return False
    await rep.adopt_epoch(epoch)
    rep.follow(body["_sender"])
    return True


async def _memory_matches_disk(rep: Replicator) -> None:
    # A deposed primary may hold applied-but-unshipped entries in memory: SQLite is what counts.
    if (rep.svc.state.index, rep.svc.state.last_epoch) != rep.writer.durable:
        await rep.writer.drained()
        state = await rep.store.load_state()
        rep.svc.replace_state(state)
        rep.writer.durable = (state.index, state.last_epoch)


@routes.post("/internal/v1/append")
@internal_route
async def append(request: web.Request) -> web.Response:
    rep, body = await read_signed(request)
    async with rep.follow_lock:
        if not await leader_message(rep, body):
            return position_answer(rep, False)
        await _memory_matches_disk(rep)
        entries = [Entry.from_json(e) for e in body["entries"]]
        if [e.index for e in entries] != list(range(int(body["prev_index"]) + 1,
                                                    int(body["prev_index"]) + 1 + len(entries))):
            return position_answer(rep, False)  # a gap (entries from past a compaction point) would corrupt our log
        if (int(body["prev_index"]), int(body["prev_epoch"])) == rep.writer.durable:
            if entries:
                try:
                    await rep.store.append(entries)
                except sqlite3.IntegrityError:  # logs that should match do not: ask for a snapshot
                    return position_answer(rep, False)
                except (sqlite3.Error, OSError) as exc:  # a full disk: a clear 503, not a traceback per write
                    raise cannot_store(request, "entries", exc) from None
                stored_again(request)
                for entry in entries:
                    rep.svc.state.apply(entry)
                rep.writer.durable = (entries[-1].index, entries[-1].epoch)
                log_progress(rep.catch_up_log.applied(body["_sender"], entries[-1].index, _head(body),
                                                       len(entries)))
            return position_answer(rep, True)
        if entries and entries[-1].index <= rep.writer.durable[0]:
            held = await rep.store.entry_at(entries[-1].index)
            if held is not None and held.epoch == entries[-1].epoch:
                return position_answer(rep, True)  # a repeat of entries we already hold
        return position_answer(rep, False)


def cannot_store(request: web.Request, what: str, exc: BaseException) -> Unavailable:
    """The 503 for a primary's message this tracker could not store (``store_health``), said in the log once a
    minute while it lasts."""
    reason = store_error(exc)
    if request.app[STORE_HEALTH].failed(reason, time.time(), time.monotonic()):
        log.error("cannot store %s from the primary: %s. This tracker falls behind until it can (a full disk? "
                  "said again every minute while it lasts)", what, reason)
    return Unavailable(f"cannot store: {reason}")


def stored_again(request: web.Request) -> None:
    since = request.app[STORE_HEALTH].stored()
    if since is not None:
        log.warning("stores what the primary sends again (it could not since %s)",
                    time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(since)))


def _head(body: dict[str, Any]) -> int | None:
    """The end of the primary's log, sent with a catch-up's appends (an int, or absent)."""
    head = body.get("head")
    return head if isinstance(head, int) and not isinstance(head, bool) else None


def log_progress(line: str | None) -> None:
    if line is not None:
        log.warning("%s", line)


@routes.post("/internal/v1/digest")
@internal_route
async def digest(request: web.Request) -> web.Response:
    """For tests and operators: a digest of the state tables and every op_id in the log, all of one view of the
    store, taken once no append is under way (``state_digest.py``: read and hashed in a worker thread, without the
    store's lock: it was read under it, and hashed on the event loop)."""
    rep, _ = await read_signed(request)
    async with rep.follow_lock:
        await rep.writer.drained()
        view = await request.app[STORE].digest_view()
    seen = await asyncio.to_thread(view.read)
    return web.json_response({"digest": seen.digest, "log_index": seen.log_index, "op_ids": seen.op_ids})


# ---------------------------------------------------------------------------------------------- forwarding

def _forwarded(request: web.Request) -> bool:
    """Which API calls a secondary hands to the primary."""
    if not request.path.startswith("/api/v1/") or request.path == "/api/v1/openapi.json":
        return False
    if request.method != "GET":
        return True
    return "/files" in request.path or request.path.count("/") == 4  # /api/v1/groups/{gid}


RELAY_TIMEOUT_S = 15.0  # a primary that is heard but slow (a queue of logins hashing) still gets its time
VIEW_CHECK_S = 0.1


async def forward(request: web.Request, rep: Replicator, raw: bytes,
                  wait_for_election: bool = False) -> web.StreamResponse | None:
    """Relay to the primary; None if there is none to reach, or this tracker became it (the caller decides what to
    do then). A relay is given up when this tracker stops hearing its primary; a write (``wait_for_election``)
    then waits, while enough trackers answer to elect one, for the next primary and goes there (the module's
    docstring). All within ``RELAY_TIMEOUT_S``."""
    if FORWARDED in request.headers or rep.http is None:
        return None  # one hop only: two trackers that each think the other is primary must not ping-pong
    loop = asyncio.get_running_loop()
    deadline = loop.time() + RELAY_TIMEOUT_S
    first: int | None = None  # the primary first relayed to: its own 503 (busy) is its answer, not a takeover
    while loop.time() < deadline:
        if rep.is_primary:  # elected meanwhile: the caller serves the write, once the epoch's first entry is in
            if rep.svc.settled or not wait_for_election:
                return None
            await asyncio.sleep(VIEW_CHECK_S)
            continue
        target = rep.live_primary()
        if target is None:
            if not wait_for_election or not rep.can_elect():
                return None
            await asyncio.sleep(VIEW_CHECK_S)  # an election is under way: its winner takes the write
            continue
        first = target if first is None else first
        relay = asyncio.create_task(_relay(request, rep, raw, target, deadline - loop.time()))
        moved = asyncio.create_task(_until_primary_is_not(rep, target))
        try:
            await asyncio.wait((relay, moved), return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (relay, moved):
                task.cancel()
            await asyncio.gather(relay, moved, return_exceptions=True)
        if relay.done() and not relay.cancelled():
            answer = relay.result()
            if not wait_for_election or (answer is not None and (answer.status != 503 or target == first)):
                return answer
            # No answer (the primary was killed?), or "retry" from a new primary taking over: look again, as above.
            await asyncio.sleep(VIEW_CHECK_S)
    return None


async def _until_primary_is_not(rep: Replicator, target: int) -> None:
    # Looked at again and again: time alone ends a primary's standing (not heard within the tracker timeout), so
    # there is no event to wait for.
    while True:
        if rep.live_primary() != target:
            return
        await asyncio.sleep(VIEW_CHECK_S)


async def _relay(request: web.Request, rep: Replicator, raw: bytes, primary_no: int,
                 limit_s: float) -> web.StreamResponse | None:
    assert rep.http is not None
    target = rep.cfg.trackers[primary_no - 1]
    headers = {k: v for k, v in request.headers.items() if k in ("Authorization", "Content-Type")}
    headers[FORWARDED] = str(rep.me)
    # Login and sign-up throttling charge the client's address, not ours (only these two headers are relayed).
    headers.update(sign_client(rep.link.key, request.remote or "", time.time(), raw))
    try:
        async with rep.http.request(request.method, target.url + request.path_qs, data=raw or None,
                                     headers=headers, timeout=aiohttp.ClientTimeout(total=limit_s)) as resp:
            body = await resp.read()
            out = web.Response(body=body, status=resp.status, content_type="application/json")
            if "Retry-After" in resp.headers:
                out.headers["Retry-After"] = resp.headers["Retry-After"]
            return out
    except (aiohttp.ClientError, TimeoutError, OSError) as exc:
        log.info("relaying %s %s to tracker %d failed: %s", request.method, request.path, primary_no,
                 type(exc).__name__)
        return None


async def serve_as_secondary(request: web.Request, handler: Handler, rep: Replicator) -> web.StreamResponse:
    """What a tracker that is not the primary does with an API request (``app.api_middleware`` calls it)."""
    if not _forwarded(request):
        return await handler(request)
    if request.content_length is not None and request.content_length > rep.cfg.max_body:
        raise TooLarge(f"request body over {rep.cfg.max_body} bytes")
    raw = await request.read()
    if request.path == "/api/v1/heartbeat":
        try:  # keep soft state here too: it is what a new primary starts from
            local: web.StreamResponse | None = await handler(request)
        except GroupShareError:
            local = None
        relayed = await forward(request, rep, raw)
        if relayed is not None and relayed.status < 500:
            return relayed
        if local is None:
            return await handler(request)  # raises the local refusal again
        return local
    relayed = await forward(request, rep, raw, wait_for_election=request.method != "GET")
    if relayed is not None and relayed.status < 500:
        return relayed
    if request.method == "GET" or rep.is_primary:  # elected while the relay waited: the write is ours to serve
        return await handler(request)
    if relayed is not None:
        return relayed
    raise Unavailable("no primary tracker reachable right now; retry")

