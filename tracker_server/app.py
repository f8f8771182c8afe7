"""The tracker's aiohttp application: ``create_app(config)`` wires store, log writer, service and routes.

Theory of operation: ``cleanup_ctx`` opens the SQLite store, loads the durable state into memory, starts the
group-commit writer and builds the service; on shutdown it drains and closes them in reverse order. One
middleware maps every ``wire.errors`` refusal and every aiohttp HTTP error to the JSON error form of the API, and
on a secondary hands the request to ``internal.serve_as_secondary`` (forwarding to the primary). It also reads
each API request's body within ``BODY_DEADLINE`` seconds before any handler runs (aiohttp keeps the bytes read for
the handler): without it a client could keep a body, up to ``max_body`` of memory, open for as long as it likes
by sending all but its last byte. A request without a live session may send at most ``SESSIONLESS_MAX_BODY``; one
session may have at most ``HeldBodies.cap`` bytes of bodies under way at once (``held_bodies.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from importlib import resources

from aiohttp import web

from tracker_server import handlers, held_bodies, internal, snapshot_routes, state_mark
from tracker_server.compaction import Compactor
from tracker_server.config import TrackerConfig
from tracker_server.data_identity import CLUSTER_KEY, TRACKER_NO_KEY, Identity, cluster_fingerprint, identity_warnings
from tracker_server.held_bodies import DEFAULT_FACTOR, HeldBodies
from tracker_server.keys import COMPACTOR, HELD_BODIES, REPLICATOR, SERVICE, STORE, STORE_HEALTH, WRITER
from tracker_server.log import LogWriter
from tracker_server.replication import Replicator
from tracker_server.service import TrackerService
from tracker_server.store import Store, StoreDamaged
from tracker_server.store_health import StoreHealth
from wire.conn_guard import Deadlines
from wire.errors import GroupShareError, TooLarge, TooManyRequests, error_document

log = logging.getLogger(__name__)
CONFIG = web.AppKey("config", TrackerConfig)
SESSIONLESS_MAX_BODY = 64 * 1024  # a sign-up or login body is under 1 KiB
BODY_DEADLINE = web.AppKey("body_deadline", float)  # seconds; the fast path's request deadline by default
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _error(status: int, code: str, message: str) -> web.Response:
    return web.json_response(error_document(code, message), status=status)


@web.middleware
async def api_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The one middleware: a secondary's forwarding, inside the mapping of refusals to the API's error form.

    One layer rather than two, because every request pays for each (aiohttp wraps each middleware per request)."""
    try:
        if request.body_exists and not request.path.startswith("/internal/"):
            read = await _read_body(request)
            if isinstance(read, web.Response):
                return read
            request = read
        rep = request.app[REPLICATOR]
        if rep.is_primary:
            return await handler(request)
        return await internal.serve_as_secondary(request, handler, rep)
    except GroupShareError as exc:
        response = _error(exc.status, exc.code, exc.message)
        if isinstance(exc, TooManyRequests):
            response.headers["Retry-After"] = str(exc.retry_after)
        return response
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        codes = {404: "not_found", 405: "method_not_allowed", 413: "too_large"}
        return _error(exc.status, codes.get(exc.status, "bad_request"), exc.reason)


async def _read_body(request: web.Request) -> web.Request | web.Response:
    """The request with its body read within the deadline (aiohttp keeps the bytes for the handler), or a 408.

    A request without a live session (a sign-up, a login: the only ones that need no session) may send at most
    ``SESSIONLESS_MAX_BODY``: anyone may send those, and 256 connections of theirs would otherwise hold the full
    ``max_body`` each. Not the trackers' own ``/internal/`` messages: signed, checked by their head before a byte
    of body is read, and a snapshot may be long."""
    config = request.app[CONFIG]
    length = request.content_length
    if length is not None and length > config.max_body:
        return request  # refused by its length, unread, by the handler
    token = handlers.bearer_token(request.headers.get("Authorization", "")) or ""
    live = token in request.app[SERVICE].state.sessions
    if not live:
        if length is not None and length > SESSIONLESS_MAX_BODY:
            raise TooLarge(f"request body over {SESSIONLESS_MAX_BODY} bytes without a live session")
        request = request.clone(client_max_size=SESSIONLESS_MAX_BODY)  # a chunked body stops there too
    if request.content.is_eof():
        # The whole body came with the head (a write's few hundred bytes, nearly always): nothing to wait for. The
        # deadline's timer and read cost a third of the replicated-write rate (bench scenario 5b: 5,300 -> 3,700/s).
        return request
    held = request.app[HELD_BODIES]
    size = length if length is not None else config.max_body
    if live and not held.take(token, size):  # this session has its allowance of bodies under way (held_bodies)
        raise TooManyRequests(held_bodies.MESSAGE, held_bodies.RETRY_S)
    try:
        async with asyncio.timeout(request.app[BODY_DEADLINE]):
            await request.read()
    except TimeoutError:
        response = _error(408, "timeout", f"request body not received within {request.app[BODY_DEADLINE]:g} s")
        response.force_close()  # the rest of the body may still come: the connection cannot carry on
        return response
    finally:
        if live:
            held.give_back(token, size)
    return request


async def _openapi(request: web.Request) -> web.Response:
    text = resources.files("tracker_server").joinpath("openapi.json").read_text(encoding="utf-8")
    return web.json_response(json.loads(text))


def create_app(config: TrackerConfig) -> web.Application:
    app = web.Application(middlewares=[api_middleware],
                          client_max_size=config.max_body)
    app[CONFIG] = config
    app[STORE_HEALTH] = StoreHealth()  # a secondary's failures to store (internal.py), shown by /healthz
    app[BODY_DEADLINE] = Deadlines().request
    app[HELD_BODIES] = HeldBodies(DEFAULT_FACTOR * config.max_body)  # shared with the fast path
    app.router.add_routes(handlers.hot_first())
    app.router.add_routes(internal.routes)
    app.router.add_routes(snapshot_routes.routes)
    app.router.add_get("/api/v1/openapi.json", _openapi)
    app.cleanup_ctx.append(_core_ctx)
    return app


async def _check_identity(store: Store, config: TrackerConfig, log_index: int) -> None:
    """Warn when the data dir was another tracker's or another cluster's (data_identity.py says why), then
    record this tracker's identity in it."""
    current = Identity(config.tracker_no, cluster_fingerprint(config.secret))
    no, cluster = await store.get_meta(TRACKER_NO_KEY), await store.get_meta(CLUSTER_KEY)
    recorded = Identity(int(no), cluster) if no is not None and no.isascii() and no.isdigit() and cluster is not None \
        else None
    for warning in identity_warnings(recorded, current, str(config.data_dir), log_index):
        log.warning("%s", warning)
    if recorded != current:
        await store.set_meta(TRACKER_NO_KEY, str(current.tracker_no))
        await store.set_meta(CLUSTER_KEY, current.cluster)


async def _core_ctx(app: web.Application) -> AsyncIterator[None]:
    config = app[CONFIG]
    had_state = state_mark.marked(config.data_dir)
    if had_state and state_mark.database_empty(config.db_path):  # before SQLite writes a fresh schema into it
        what = "is empty" if config.db_path.exists() else "is missing"
        raise state_mark.state_lost(config.data_dir, config.db_path, what)
    store = await Store.open(config.db_path)
    try:  # whatever fails from here on (a refusal, a port taken, a cancel) closes the store: no connection left open
        async with _serving(app, config, store, had_state):
            yield
    finally:
        await store.close()


@contextlib.asynccontextmanager
async def _serving(app: web.Application, config: TrackerConfig, store: Store, had_state: bool) -> AsyncIterator[None]:
    """The tracker's parts over an open store, from its state loaded to their stop; ``store`` is the caller's."""
    try:
        state = await store.load_state()
    except sqlite3.DatabaseError as exc:  # the schema opened, the rows do not read
        raise StoreDamaged(config.db_path, exc) from None
    if state.epoch == 0 and had_state:  # every start records an epoch: this database was made anew
        raise state_mark.state_lost(config.data_dir, config.db_path, "holds no state")
    if state.epoch == 0:  # a fresh data dir: the first epoch is 1
        state.epoch = 1
        await store.set_meta("epoch", "1")
    await _check_identity(store, config, state.index)
    state_mark.mark(config.data_dir, config.tracker_no)
    writer = LogWriter(store.append, (state.index, state.last_epoch))
    service = TrackerService(config, state, writer)
    del state  # the service's from now on: held here too, the state loaded at start would outlive its replacement

    replicator = Replicator(config, store, service, writer)

    async def reload(exc: Exception) -> None:
        # Memory ran ahead of a write that did not commit: SQLite is the truth, start again from it.
        fresh = await store.load_state()
        service.replace_state(fresh)
        writer.durable = (fresh.index, fresh.last_epoch)

    writer.on_failure = reload
    app[STORE], app[WRITER], app[SERVICE], app[REPLICATOR] = store, writer, service, replicator
    compactor = app[COMPACTOR] = Compactor(config, store, service, writer)
    writer.start()
    try:
        await replicator.start()
        compactor.start()
        yield
    finally:
        await compactor.stop()
        await replicator.stop()
        await writer.stop()
