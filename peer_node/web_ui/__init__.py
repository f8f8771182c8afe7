"""The browser UI of the peer node: pages, forms, live progress, all on the node's web port.

Theory of operation: ``setup_ui`` adds to the node's aiohttp app an encrypted-cookie session, a guard
(host, origin, CSRF, CSP; see security.py), an error middleware that turns ``wire.errors`` into a page in
plain words, the jinja2 templates of ``web/templates`` (autoescaped) and the static files of ``web/static``.
Handlers only parse and render: every rule lives in the NodeService they call (shared with /cmd, so the
browser and scripts act for the same logged-in user). Modules: auth (login/register/logout), pages (GET),
actions (form posts), transfer (upload, save), events (Server-Sent Events), format (pure wording).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import aiohttp_jinja2
import aiohttp_session
import jinja2
from aiohttp import web
from aiohttp.typedefs import Handler
from aiohttp_session.cookie_storage import EncryptedCookieStorage

from peer_node.web_ui import auth, download_actions, download_words, events, format, group_actions, pages, transfer
from peer_node.web_ui.ports import UiConfig, UiService
from peer_node.web_ui.security import (
    NOT_UI_PATHS,
    SessionVersions,
    add_security_headers,
    allowed_origins,
    guard_middleware,
    load_or_create_key,
    page_of,
)
from peer_node.web_ui.state import UI_KEY, UiState, login_redirect, render, ui
from wire.errors import GroupShareError, NotLoggedIn

ROOT = Path(__file__).resolve().parents[2] / "web"
TEMPLATES = ROOT / "templates"
STATIC = ROOT / "static"
COOKIE = "groupshare_session"


def cookie_name(web_port: int) -> str:
    """One cookie name per node: browsers keep one cookie jar per host, whatever the port, so two nodes on one
    machine (ports 8080 and 8081) would otherwise overwrite each other's session and log each other out."""
    return f"{COOKIE}_{web_port}"

__all__ = ["UI_KEY", "UiState", "setup_ui"]


@web.middleware
async def error_pages(request: web.Request, handler: Handler) -> web.StreamResponse:
    """A refusal becomes a page that says what went wrong, with the right status."""
    if request.path in NOT_UI_PATHS or request.path.startswith("/static/"):
        return await handler(request)
    try:
        return await handler(request)
    except NotLoggedIn:
        raise login_redirect(request) from None
    except GroupShareError as exc:
        # A refused form: the history gets the page it was sent from, not the POST (see ``render``).
        page = page_of(request.headers.get("Referer"), allowed_origins(ui(request).config.web_port)) \
            if request.method == "POST" else None
        return await render(request, "error.html", {"title": _title(exc.status), "message": exc.message},
                            status=exc.status, page=page)
    except web.HTTPNotFound:
        return await render(request, "error.html", {
            "title": "Page not found", "message": "There is no page at this address. Check the link."}, status=404)


def _title(status: int) -> str:
    return {400: "That did not work", 401: "Please log in", 403: "Not allowed", 404: "Not found",
            409: "Already done", 413: "Too large", 429: "Too many requests",
            503: "Cannot reach the tracker"}.get(status, "Something went wrong")


async def _cache_static(request: web.Request, response: web.StreamResponse) -> None:
    if request.path.startswith("/static/") and "v" in request.query:
        response.headers["Cache-Control"] = "public, max-age=31536000, immutable"


def _asset_url(app: web.Application) -> Callable[[str], str]:
    cache: dict[str, str] = {}

    def asset(name: str) -> str:
        if name not in cache:
            resource = app.router["static"]
            assert isinstance(resource, web.StaticResource)
            cache[name] = str(resource.url_for(filename=name))
        return cache[name]

    return asset


def setup_ui(app: web.Application, service: UiService, config: UiConfig) -> None:
    """Mount the browser UI on ``app`` (call before the app starts; /cmd and /healthz are left alone)."""
    state = UiState(service=service, config=config, versions=SessionVersions(config.data_dir))
    service.on_logout.append(state.versions.bump)  # a logout from /cmd or the console ends the cookies too
    app[UI_KEY] = state
    key = load_or_create_key(config.data_dir, fresh=state.versions.damaged)
    if state.versions.damaged:
        state.versions.repair()  # after the new key, not before: no moment in which old cookies count again
    storage = EncryptedCookieStorage(key, cookie_name=cookie_name(config.web_port),
                                     httponly=True, samesite="Lax", max_age=30 * 86400)
    aiohttp_session.setup(app, storage)
    app.middlewares.append(guard_middleware(lambda: config.web_port))
    app.middlewares.append(error_pages)
    env = aiohttp_jinja2.setup(app, loader=jinja2.FileSystemLoader(str(TEMPLATES)),
                               autoescape=jinja2.select_autoescape(default=True, default_for_string=True),
                               undefined=jinja2.StrictUndefined, default_helpers=False,
                               trim_blocks=True, lstrip_blocks=True)
    env.globals.update(asset=_asset_url(app), fmt=format, dl=download_words, now=time.time,
                       share_place=lambda path: format.share_place(path, config.data_dir))
    env.filters["sentence"] = format.sentence
    app.on_response_prepare.append(add_security_headers)
    app.on_response_prepare.append(_cache_static)

    async def stop_streams(_: web.Application) -> None:
        state.stopping.set()

    app.on_shutdown.append(stop_streams)

    r = app.router
    r.add_static("/static/", STATIC, name="static", append_version=True)
    r.add_get("/", pages.dashboard)
    r.add_get("/login", auth.login_page)
    r.add_post("/login", auth.login_post)
    r.add_get("/register", auth.register_page)
    r.add_post("/register", auth.register_post)
    r.add_post("/logout", auth.logout_post)
    r.add_get("/groups", pages.groups_page)
    r.add_post("/groups", group_actions.create_group)
    r.add_get("/groups/{group_id}", pages.group_page)
    r.add_post("/groups/{group_id}/join", group_actions.join_group)
    r.add_post("/groups/{group_id}/leave", group_actions.leave_group)
    r.add_post("/groups/{group_id}/requests/{user_id}/{decision:accept|reject}", group_actions.decide_request)
    r.add_post("/groups/{group_id}/requests/accept-all", group_actions.accept_all)
    r.add_post("/groups/{group_id}/share", group_actions.share_path)
    r.add_post("/groups/{group_id}/upload", transfer.upload, name="upload")
    r.add_post("/groups/{group_id}/stop", group_actions.stop_share)
    r.add_post("/groups/{group_id}/download", download_actions.start_download)
    r.add_post("/groups/{group_id}/folder", download_actions.set_download_folder)
    r.add_get("/downloads", pages.downloads_page)
    r.add_get("/downloads/events", events.stream)
    r.add_get("/pacing", events.pacing)
    r.add_post("/downloads/retry", download_actions.retry_download)
    r.add_post("/downloads/pause", download_actions.pause_download)
    r.add_post("/downloads/resume", download_actions.resume_download)
    r.add_post("/downloads/remove", download_actions.remove_download)
    r.add_post("/downloads/clear", download_actions.clear_complete)
    r.add_post("/downloads/upload-limit", download_actions.set_upload_limit)
    r.add_post("/downloads/download-limit", download_actions.set_download_limit)
    r.add_get("/downloads/save", transfer.save)
    for form in ("/logout", "/groups/{group_id}/{action:join|leave|share|upload|stop|download|folder}",
                 "/groups/{group_id}/requests/{user_id}/{decision:accept|reject}",
                 "/groups/{group_id}/requests/accept-all",
                 "/downloads/{action:retry|pause|resume|remove|clear|upload-limit|download-limit}"):
        r.add_get(form, pages.page_of_form)  # a form's address opened directly: its page, not a 405
