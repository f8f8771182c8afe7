"""The node's web application: ``/cmd``, ``/healthz``, a small JSON API, and the browser UI's hook.

Theory of operation: ``create_app(config)`` builds the aiohttp application; the NodeService (state, tracker
client, piece server, downloads) is opened and closed in ``cleanup_ctx`` and published as ``SERVICE``. The door
middleware (Host, Origin) guards every route. ``/cmd`` reads at most ``MAX_CMD_BODY`` bytes, checks the API key and
runs the line through ``peer_node.commands``; refusals become ``error: <message>`` with the error's status.
The browser UI lives in ``peer_node.web_ui`` (another engineer's package): when it exists, its
``setup_ui(app, service, config)`` adds its routes, middlewares and templates.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

from peer_node.commands import run_command
from peer_node.config import NodeConfig
from peer_node.door import bearer_ok, door_middleware, refusal
from peer_node.service import NodeService
from peer_node.state import load_or_create_api_key
from wire.errors import GroupShareError
from wire.safe_text import utf8_bytes

log = logging.getLogger(__name__)

MAX_CMD_BODY = 64 * 1024
SERVICE = web.AppKey("service", NodeService)
CONFIG = web.AppKey("config", NodeConfig)
API_KEY = web.AppKey("api_key", str)


def _text(body: str, status: int = 200) -> web.Response:
    return web.Response(status=status, body=utf8_bytes(body), content_type="text/plain", charset="utf-8")


async def _read_capped(request: web.Request, cap: int) -> bytes | None:
    """The body, or None when it is larger than ``cap`` (read no further than cap + 1 bytes)."""
    if request.content_length is not None and request.content_length > cap:
        return None
    data = bytearray()
    while len(data) <= cap:  # read(n) returns what has arrived, not n bytes
        chunk = await request.content.read(cap + 1 - len(data))
        if not chunk:
            break
        data += chunk
    return None if len(data) > cap else bytes(data)


def _authorized(request: web.Request) -> bool:
    return bearer_ok(request.headers.get("Authorization"), request.app[API_KEY])


async def handle_cmd(request: web.Request) -> web.Response:
    if not _authorized(request):
        return refusal(401, "missing or wrong API key: send Authorization: Bearer <content of <data-dir>/api-key>")
    raw = await _read_capped(request, MAX_CMD_BODY)
    if raw is None:
        return refusal(413, f"command too large (over {MAX_CMD_BODY} bytes)")
    try:
        line = raw.decode("utf-8").removeprefix("\ufeff")  # a byte-order mark from a file saved on Windows
    except UnicodeDecodeError:
        return refusal(400, "the command is not UTF-8 text")
    try:
        return _text(await run_command(request.app[SERVICE], line))
    except GroupShareError as exc:
        return refusal(exc.status, exc.message)


async def handle_cmd_other_method(request: web.Request) -> web.Response:
    response = refusal(405, f"{request.method} is not a command: POST /cmd with one command line as the body")
    response.headers["Allow"] = "POST"
    return response


async def handle_healthz(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    return web.json_response({"ok": True, "piece_addr": service.config.piece_addr,
                              "logged_in": service.state.session is not None})


async def handle_api_downloads(request: web.Request) -> web.Response:
    """Every download of the logged-in user with bytes per source peer (tests, the UI, scripts)."""
    if not _authorized(request):
        return web.json_response({"error": {"code": "not_authorized", "message": "missing or wrong API key"}},
                                 status=401)
    service = request.app[SERVICE]
    session = service.state.session
    items = service.downloads_mgr.debug(session.user_id) if session is not None else []
    return web.json_response({"downloads": items})


async def handle_api_status(request: web.Request) -> web.Response:
    if not _authorized(request):
        return web.json_response({"error": {"code": "not_authorized", "message": "missing or wrong API key"}},
                                 status=401)
    service = request.app[SERVICE]
    st = service.status()
    shares: list[dict[str, Any]] = []
    if st.user_id is not None:
        shares = [{"group_id": s.group_id, "file_name": s.file_name, "path": s.path, "size": s.size,
                   "sha256": s.sha256, "unavailable": s.unavailable,
                   "unavailable_since": s.unavailable_since} for s in service.shares()]
    return web.json_response({
        "user_id": st.user_id, "piece_addr": st.piece_addr, "tracker": st.tracker, "tracker_rank": st.tracker_rank,
        "failed_over": st.failed_over, "shares": shares, "heartbeats": service.heartbeat.beats,
        "bytes_sent_by_user": service.server.bytes_sent_by_user(), "fingerprint": service.fingerprint,
        "upload_limit": st.upload_limit, "download_limit": st.download_limit,
    })


def _setup_ui(app: web.Application, service: NodeService, config: NodeConfig) -> None:
    """Plug in the browser UI when its package is present (it is built separately)."""
    if importlib.util.find_spec("peer_node.web_ui") is None:
        return
    module = importlib.import_module("peer_node.web_ui")
    setup = getattr(module, "setup_ui", None)
    if callable(setup):
        setup(app, service, config)


def create_app(config: NodeConfig, *, with_ui: bool = True) -> web.Application:
    config.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    app = web.Application(middlewares=[door_middleware(config)], client_max_size=1024 * 1024)
    service = NodeService(config)
    app[CONFIG] = config
    app[SERVICE] = service
    app[API_KEY] = load_or_create_api_key(config.data_dir)

    async def service_ctx(app: web.Application) -> AsyncIterator[None]:
        await service.start()
        yield
        await service.close()

    app.cleanup_ctx.append(service_ctx)
    app.router.add_post("/cmd", handle_cmd)
    app.router.add_route("*", "/cmd", handle_cmd_other_method)  # the POST route above is matched first
    app.router.add_get("/healthz", handle_healthz)
    app.router.add_get("/api/downloads", handle_api_downloads)
    app.router.add_get("/api/status", handle_api_status)
    if with_ui:
        _setup_ui(app, service, config)
    return app
