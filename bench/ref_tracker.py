"""The tracker scenario's reference: a bare aiohttp server answering the same two hot routes from a dict.

``python -m bench.ref_tracker <port> <data.json>``; data.json is ``{"tokens": {token: [user, group]},
"bodies": {group: list_files answer}}`` as preloaded into the real tracker. A heartbeat checks the token,
parses the body and stamps the peer in a dict; list_files checks the token and membership and returns the
group's stored answer. No database, no validation beyond that: the ceiling a Python tracker can reach here.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from aiohttp import web

TOKENS: web.AppKey[dict[str, list[str]]] = web.AppKey("tokens", dict)
BODIES: web.AppKey[dict[str, bytes]] = web.AppKey("bodies", dict)
SEEN: web.AppKey[dict[str, tuple[float, object]]] = web.AppKey("seen", dict)


def _who(request: web.Request) -> list[str]:
    auth = request.headers.get("Authorization", "")
    who = request.app[TOKENS].get(auth.removeprefix("Bearer "))
    if who is None:
        raise web.HTTPUnauthorized()
    return who


async def heartbeat(request: web.Request) -> web.Response:
    _who(request)
    body = await request.json()
    request.app[SEEN][request.headers["Authorization"]] = (time.time(), body.get("holdings"))
    return web.json_response({"heartbeat_interval": 5.0, "epoch": 1})


async def list_files(request: web.Request) -> web.Response:
    _user, group = _who(request)
    if request.match_info["gid"] != group:
        raise web.HTTPForbidden()
    return web.Response(body=request.app[BODIES][group], content_type="application/json")


def create_app(data: dict[str, object]) -> web.Application:
    app = web.Application()
    tokens = data["tokens"]
    bodies = data["bodies"]
    assert isinstance(tokens, dict) and isinstance(bodies, dict)
    app[TOKENS] = tokens
    app[BODIES] = {g: b.encode() for g, b in bodies.items()}
    app[SEEN] = {}
    app.router.add_post("/api/v1/heartbeat", heartbeat)
    app.router.add_get("/api/v1/groups/{gid}/files", list_files)
    return app


def main() -> None:
    port, data_file = int(sys.argv[1]), Path(sys.argv[2])
    web.run_app(create_app(json.loads(data_file.read_text())), host="127.0.0.1", port=port, access_log=None,
                print=None)


if __name__ == "__main__":
    main()
