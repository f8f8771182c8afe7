"""Browser-side safety: the session key, per-user session versions, CSRF tokens and the request guard.

Theory of operation:
- The session lives in an encrypted cookie (aiohttp-session + Fernet). Its key is made at first start and
  kept in ``<data-dir>/web-session.key`` (0600), so a restart keeps people logged in.
- A session carries ``uid`` and ``ver``. ``SessionVersions`` keeps one counter per user in
  ``<data-dir>/web-sessions.json``; logout bumps it, so every copy of an old cookie stops working at once.
- Each session carries a random ``csrf`` token; every form posts it back and ``guard_middleware`` compares
  it in constant time before any handler runs. Multipart uploads check it in their handler (first part).
- The guard also refuses a foreign ``Host`` (DNS rebinding), any cross-site ``Origin`` or
  ``Sec-Fetch-Site: cross-site`` on a mutating request, any method but GET/HEAD/POST, and a hook adds a strict CSP
  to every UI answer.
"""

from __future__ import annotations

import contextlib
import hmac
import json
import logging
import secrets
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote, urlsplit

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware
from aiohttp_session import Session, get_session
from cryptography.fernet import Fernet

from peer_node.data_files import move_aside, write_atomic

log = logging.getLogger(__name__)

FLASH_KEY = "flash"  # the session's one-shot notice (state.flash sets it, render shows and drops it)

KEY_FILE = "web-session.key"
VERSIONS_FILE = "web-sessions.json"
CSRF_FIELD = "csrf_token"

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "font-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; manifest-src 'self'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
}

# Paths the UI guard leaves alone: the node's own endpoints with their own checks.
NOT_UI_PATHS = ("/cmd", "/healthz")


def load_or_create_key(data_dir: Path, fresh: bool = False) -> Fernet:
    """The cookie key: read from the data dir, or made and stored there (0600) at first start; made anew when
    ``fresh`` (every browser session then ends: ``SessionVersions.damaged`` says why that can be needed)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / KEY_FILE
    if path.exists() and not fresh:
        raw = path.read_bytes().strip()
        with contextlib.suppress(ValueError):
            return Fernet(raw)
        # An unreadable key only costs everyone a fresh login: replace it rather than refuse to start.
    key = Fernet.generate_key()
    write_atomic(path, key)
    return Fernet(key)


class SessionVersions:
    """One counter per user; a cookie is valid only while its ``ver`` equals the user's counter.

    A counts file that exists but cannot be read back is ``damaged``: starting every counter at 0 again would bring
    back to life the cookies of sessions that a logout ended (their ``ver`` was 0), so the caller then makes a
    fresh cookie key, which ends every browser session instead."""

    def __init__(self, data_dir: Path) -> None:
        self._path = data_dir / VERSIONS_FILE
        self._versions: dict[str, int] = {}
        self.damaged = False
        if self._path.exists():
            try:
                loaded = json.loads(self._path.read_text("utf-8"))
                if not isinstance(loaded, dict):
                    raise ValueError("not an object")
                self._versions = {str(k): int(v) for k, v in loaded.items() if isinstance(v, int)}
            except (ValueError, OSError) as exc:
                log.warning("%s cannot be read (%s): every browser session ends, users log in again",
                            self._path, exc)
                self.damaged = True

    def current(self, uid: str) -> int:
        return self._versions.get(uid, 0)

    def repair(self) -> None:
        """Count from 0 again, once a fresh cookie key has ended every session (the class's docstring)."""
        self._versions = {}
        try:
            write_atomic(self._path, b"{}")
        except IsADirectoryError:  # a directory in its place, which no rename replaces: move it aside, then write
            aside = move_aside(self._path)
            log.warning("%s was a directory: moved aside as %s", self._path, aside)
            write_atomic(self._path, b"{}")
        self.damaged = False

    def bump(self, uid: str) -> int:
        self._versions[uid] = self.current(uid) + 1
        write_atomic(self._path, json.dumps(self._versions).encode())
        return self._versions[uid]


def csrf_token(session: Session) -> str:
    token = session.get("csrf")
    if not isinstance(token, str) or len(token) < 32:
        token = secrets.token_urlsafe(32)
        session["csrf"] = token
    return token


def csrf_ok(session: Session, given: object) -> bool:
    token = session.get("csrf")
    return (
        isinstance(token, str) and isinstance(given, str) and bool(given)
        and hmac.compare_digest(token.encode(), given.encode())
    )


def allowed_hosts(port: int) -> frozenset[str]:
    return frozenset({f"127.0.0.1:{port}", f"localhost:{port}"})


def allowed_origins(port: int) -> frozenset[str]:
    return frozenset({f"http://127.0.0.1:{port}", f"http://localhost:{port}"})


def refusal(message: str, status: int = 403) -> web.Response:
    return web.Response(status=status, text=f"{message}\n", headers=SECURITY_HEADERS)


STREAMED_ROUTES = frozenset({"upload"})  # named routes that check the CSRF token themselves, from the stream


def guard_middleware(port_of: Callable[[], int]) -> Middleware:
    """Refuse foreign hosts, cross-site writes and forms without the session's CSRF token."""

    @web.middleware
    async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path in NOT_UI_PATHS:
            return await handler(request)
        port = port_of()
        if request.host not in allowed_hosts(port):
            return refusal("This page is only served to http://127.0.0.1 on this computer.")
        if request.method not in ("GET", "HEAD", "POST"):
            return refusal("Method not allowed.", 405)
        if request.method == "POST":
            origin = request.headers.get("Origin")
            if origin is not None and origin not in allowed_origins(port):
                return refusal("Refused: this form was sent from another site.")
            if request.headers.get("Sec-Fetch-Site") == "cross-site":
                return refusal("Refused: this form was sent from another site.")
            if request.match_info.route.name not in STREAMED_ROUTES:
                session = await get_session(request)
                try:
                    form = await request.post()
                except (UnicodeDecodeError, ValueError):  # not a form of ours (e.g. not UTF-8): never a 500
                    return refusal("This form could not be read. Go back, reload and try again.", 400)
                if not csrf_ok(session, form.get(CSRF_FIELD)):
                    if not isinstance(session.get("uid"), str) and request.path not in ("/login", "/register"):
                        # The session ended meanwhile (a logout in another tab): that is the cause to tell.
                        session[FLASH_KEY] = ("You were logged out (in another tab or window), so that form was not "
                                            "sent. Log in again.")
                        back = page_of(request.headers.get("Referer"), allowed_origins(port))
                        raise web.HTTPSeeOther("/login?next=" + quote(back, safe="/?=&"))
                    return refusal(
                        "This form has expired or did not come from this page. Go back, reload and try again.",
                    )
        return await handler(request)

    return guard


def page_of(referer: str | None, origins: frozenset[str] | set[str]) -> str:
    """The path of the page a form was sent from, if it is one of ours; else the home page."""
    if referer:
        parts = urlsplit(referer)
        if f"{parts.scheme}://{parts.netloc}" in origins and parts.path.startswith("/") \
                and not parts.path.startswith("//"):
            return parts.path + (f"?{parts.query}" if parts.query else "")
    return "/"


async def add_security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """on_response_prepare hook: also covers streamed answers (events, file saves) and error pages."""
    if request.path in NOT_UI_PATHS:
        return
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)

