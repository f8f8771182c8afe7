"""The web port's door: the Host and Origin checks that guard every route, and the API key of ``/cmd``.

Theory of operation: the node's web port is bound to loopback, but a web page in the user's own browser can still
reach it. Two checks stop that. A foreign ``Host`` header means DNS rebinding (a hostile name resolved to
127.0.0.1): every route refuses it. A foreign ``Origin`` on a state-changing request means a cross-site request;
scripts send no Origin and pass. ``/cmd`` also wants ``Authorization: Bearer <api-key>``, compared in constant
time. The checks are pure functions; ``door_middleware`` applies the first two to every route, the browser
UI's included.
"""

from __future__ import annotations

import hmac
import re

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from peer_node.config import NodeConfig
from wire.safe_text import utf8_bytes

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Forms and /cmd are small: a larger claimed body is refused from its header, before a byte of it is read (aiohttp
# would otherwise wait for it). The upload route streams its file part to disk and caps it itself.
MAX_BODY = 1024 * 1024
STREAMED_BODY = re.compile(r"/groups/[^/]+/upload")


def host_allowed(host: str | None, config: NodeConfig) -> bool:
    return host is not None and host.lower() in config.web_hosts


def origin_allowed(origin: str | None, config: NodeConfig) -> bool:
    """No Origin (a script) passes; otherwise it must be the node's own."""
    return origin is None or origin.lower().rstrip("/") in config.web_origins


def bearer_ok(authorization: str | None, api_key: str) -> bool:
    if not authorization:
        return False
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return False
    return hmac.compare_digest(token.strip().encode("utf-8", "replace"), api_key.encode("utf-8"))


def body_too_large(content_length: int | None, path: str) -> bool:
    return content_length is not None and content_length > MAX_BODY and not STREAMED_BODY.fullmatch(path)


def refusal(status: int, message: str) -> web.Response:
    return web.Response(status=status, body=utf8_bytes(f"error: {message}\n"), content_type="text/plain",
                        charset="utf-8")  # a message may name a path that is not UTF-8 (safe_text)


def door_middleware(config: NodeConfig) -> Middleware:
    @web.middleware
    async def door(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not host_allowed(request.headers.get("Host"), config):
            return refusal(403, "foreign Host header refused; use http://127.0.0.1:<web-port>/")
        cross_site = not origin_allowed(request.headers.get("Origin"), config)
        if cross_site and (request.method not in SAFE_METHODS or request.path == "/cmd"):
            return refusal(403, "cross-site request refused (foreign Origin)")
        if body_too_large(request.content_length, request.path):
            return refusal(413, f"request body too large (over {MAX_BODY} bytes)")
        return await handler(request)

    return door
