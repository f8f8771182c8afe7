"""The UI's shared state and the helpers every handler uses: who is logged in, rendering, redirects.

A browser session is "logged in" only when all three agree: the cookie names a user, the cookie's version
equals that user's current session version (logout bumps it), and the node itself is logged in as that user
(the node acts for one user at a time; /cmd may have logged it out or in as someone else).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp_jinja2
from aiohttp import web
from aiohttp_session import Session, get_session

from peer_node.join_answers import join_answers_text
from peer_node.upload_copies import uploads_dir
from peer_node.views import NodeStatus
from peer_node.web_ui.ports import UiConfig, UiService
from peer_node.web_ui.security import FLASH_KEY, SessionVersions, allowed_origins, csrf_token, page_of
from wire.safe_text import utf8_bytes


@dataclass
class UiState:
    service: UiService
    config: UiConfig
    versions: SessionVersions
    event_poll_s: float = 0.4  # how often the live stream looks for change (<1 s end to end)
    keepalive_s: float = 15.0
    stopping: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def default_download_dir(self) -> Path:
        return self.config.data_dir / "downloads"

    @property
    def upload_dir(self) -> Path:
        return uploads_dir(self.config.data_dir)


UI_KEY = web.AppKey("groupshare_ui", UiState)


def ui(request: web.Request) -> UiState:
    return request.app[UI_KEY]


async def current_user(request: web.Request) -> str | None:
    session = await get_session(request)
    uid = session.get("uid")
    if not isinstance(uid, str):
        return None
    state = ui(request)
    if session.get("ver") != state.versions.current(uid):
        return None
    status = state.service.status()
    return uid if status.user_id == uid else None


def login_redirect(request: web.Request, ended: bool = False) -> web.HTTPSeeOther:
    """To the login page, and back afterwards to this page, or for a form to the page it was sent from (the form's
    own address is no page). ``ended``: this browser's session ended meanwhile (a logout in another tab, by a
    command or at the console), which the login page then says."""
    if request.method == "GET":
        target = request.path_qs
    else:
        target = page_of(request.headers.get("Referer"), allowed_origins(ui(request).config.web_port))
    why = "why=elsewhere&" if ended else ""
    return web.HTTPSeeOther(f"/login?{why}next=" + quote(target, safe="/?=&"))


async def require_user(request: web.Request) -> str:
    """The logged-in user, or a redirect to the login page that comes back here afterwards."""
    uid = await current_user(request)
    if uid is None:
        raise login_redirect(request, ended=isinstance((await get_session(request)).get("uid"), str))
    return uid


def safe_next(value: object, default: str = "/") -> str:
    """Only same-site paths: '/groups/x' yes, '//evil.example' or 'https://...' no."""
    # isprintable: browsers drop tabs and newlines from a URL, so "/\t/evil.example" would become "//evil.example"
    if isinstance(value, str) and value.startswith("/") and not value.startswith("//") and "\\" not in value \
            and value.isprintable():
        return value
    return default


def flash(session: Session, message: str) -> None:
    session[FLASH_KEY] = message


def see_other(location: str) -> web.HTTPSeeOther:
    return web.HTTPSeeOther(location)


async def render(
    request: web.Request, template: str, context: dict[str, Any], *, status: int = 200, nav: str = "",
    page: str | None = None,
) -> web.Response:
    """Render a page with what base.html needs: user, CSRF token, node status, the one-shot notice.

    ``page``: the address the browser's history should hold for this page (app.js, ``history.replaceState``).
    For a refused form, shown as the answer to its POST, the page the form is on: Back or a reload later loads
    that page afresh instead of asking to send the form again. For a page reached with a one-time query (the
    login page's ``why``), the address without it."""
    session = await get_session(request)
    state = ui(request)
    node: NodeStatus = state.service.status()
    uid = await current_user(request)
    notice = session.pop(FLASH_KEY, None)
    # Answers to the user's requests to join, found while this page listed groups: shown once, with the notice.
    answers = join_answers_text(state.service.join_answers()) if uid is not None else ""
    notice = " ".join(text for text in (notice if isinstance(notice, str) else "", answers) if text) or None
    base = {
        "user": uid,
        "csrf": csrf_token(session),
        "node": node,
        "notice": notice,
        "nav": nav,
        "path": request.path_qs,
        "page_url": page,
        "pending_total": sum((state.service.pending_requests() or {}).values()) if uid is not None else 0,
    }
    base.update(context)
    # Rendered to a string and encoded here, not by render_template: a path that is not UTF-8 (safe_text) must
    # not turn the page into a 500.
    html = aiohttp_jinja2.render_string(template, request, base)
    response = web.Response(status=status, body=utf8_bytes(html), content_type="text/html", charset="utf-8")
    response.headers["Cache-Control"] = "no-store"
    return response
