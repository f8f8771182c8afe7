"""HTTP handlers of the tracker API v1: parse and validate the request, call the service, render JSON.

Every field is checked here before the service sees it (ids and names by ``wire.names``, file metadata by
``FileMeta.from_json``, op_ids, addresses, holdings); refusals are ``wire.errors`` classes that the middleware in
``app.py`` turns into ``{"error": {"code", "message"}}`` with the class's status.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import asdict
from typing import Any

from aiohttp import web

from tracker_server import queries
from tracker_server.cluster_auth import cluster_key
from tracker_server.keys import REPLICATOR, SERVICE, STORE_HEALTH
from tracker_server.liveness import Holding
from tracker_server.service import OpResult, TrackerService
from tracker_server.throttle import client_address
from wire.errors import BadInput, TooLarge
from wire.names import MAX_PASSWORD, check_file_name, check_id
from wire.records import ALL_PIECES, FileMeta, check_sha256, encode_bitfield

MAX_HOLDINGS = 10_000

routes = web.RouteTableDef()
# Registered first (``hot_first``): aiohttp tries the routes that share a path prefix in registration order, one
# regex each, and list_files was the seventh of the /api/v1/groups/{gid}... routes. No two routes here match one
# path, so the order changes nothing but the work.
HOT_PATHS = ("/api/v1/groups/{gid}/files", "/api/v1/heartbeat")


def hot_first() -> list[web.AbstractRouteDef]:
    return sorted(routes, key=lambda r: not (isinstance(r, web.RouteDef) and r.path in HOT_PATHS))


# ---------------------------------------------------------------------------------------------- parsing

async def _body(request: web.Request) -> dict[str, Any]:
    return json_object(await _raw_body(request))


async def _raw_body(request: web.Request) -> bytes:
    cap = _svc(request).config.max_body
    if request.content_length is not None and request.content_length > cap:
        raise TooLarge(f"request body over {cap} bytes")
    return await request.read()


def json_object(raw: bytes) -> dict[str, Any]:
    """A request body as a JSON object; an empty body is ``{}``."""
    if not raw:
        return {}
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError):  # RecursionError: nested past Python's limit
        raise BadInput("request body is not JSON") from None
    if not isinstance(data, dict):
        raise BadInput("request body must be a JSON object")
    return data


def _op_id(body: dict[str, Any]) -> str:
    return check_id(body.get("op_id"), "op_id")


def _text(body: dict[str, Any], key: str, max_len: int, allow_empty: bool = False) -> str:
    value = body.get(key)
    if not isinstance(value, str) or len(value) > max_len or (not value and not allow_empty):
        raise BadInput(f"invalid {key}: want a string of {0 if allow_empty else 1}-{max_len} characters")
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:  # JSON's "\ud800": a lone surrogate, no character of any text
            raise BadInput(f"invalid {key}: not valid Unicode text") from None
    return value


def _peer_addr(body: dict[str, Any]) -> str:
    addr = _text(body, "peer_addr", 300)
    host, sep, port = addr.rpartition(":")
    if not sep or not host or not (port.isascii() and port.isdigit()) or not 0 < int(port) < 65536 \
            or any(c.isspace() for c in host):
        raise BadInput("invalid peer_addr: want host:port")
    return addr


def _fingerprint(body: dict[str, Any]) -> str:
    value = body.get("fingerprint", "")
    if value == "":
        return ""
    return check_sha256(value, "fingerprint")


def _token(request: web.Request) -> str | None:
    return bearer_token(request.headers.get("Authorization", ""))


def bearer_token(authorization: str) -> str | None:
    """The session token of an ``Authorization: Bearer <token>`` header value, or None."""
    scheme, _, token = authorization.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


async def _client(request: web.Request) -> str:
    """The address login and sign-up throttling charge: the client's, even when a secondary relayed the request."""
    svc = _svc(request)
    raw = await request.read()  # cached by aiohttp: the very bytes ``_body`` parsed (the signature covers them)
    return client_address(request.headers, request.remote, cluster_key(svc.config.secret), svc.now(), raw)


def _svc(request: web.Request) -> TrackerService:
    return request.app[SERVICE]


def _gid(request: web.Request) -> str:
    return check_id(request.match_info["gid"], "group id")


def _json_bytes(body: bytes) -> web.Response:
    """An answer encoded beforehand (the hot path's cached bodies), with ``json_response``'s headers."""
    return web.Response(body=body, content_type="application/json", charset="utf-8")


def _answer(result: OpResult) -> web.Response:
    return web.json_response(result.body, status=result.status)


def _holdings(body: dict[str, Any]) -> list[tuple[str, str, Holding]]:
    items = body.get("holdings", [])
    if not isinstance(items, list) or len(items) > MAX_HOLDINGS:
        raise BadInput(f"invalid holdings: want a list of at most {MAX_HOLDINGS} entries")
    out: list[tuple[str, str, Holding]] = []
    for item in items:
        if not isinstance(item, dict):
            raise BadInput("invalid holdings entry: want an object")
        gid = check_id(item.get("group_id"), "group id")
        sha = check_sha256(item.get("file_sha256"), "file_sha256")
        pieces = item.get("pieces")
        if pieces == ALL_PIECES:
            out.append((gid, sha, None))
            continue
        if not isinstance(pieces, str):
            raise BadInput('invalid pieces: want "all" or a base64 bitfield')
        try:
            out.append((gid, sha, base64.b64decode(pieces, validate=True)))
        except (binascii.Error, ValueError):
            raise BadInput("invalid pieces: not base64") from None
    return out


def _pieces(bits: bytes | None) -> str:
    return ALL_PIECES if bits is None else encode_bitfield(bits)


# ---------------------------------------------------------------------------------------------- users, sessions

@routes.post("/api/v1/users")
async def create_user(request: web.Request) -> web.Response:
    body = await _body(request)
    user_id = check_id(body.get("user_id"), "user id")
    password = _text(body, "password", MAX_PASSWORD)
    client = await _client(request)
    return _answer(await _svc(request).create_user(_op_id(body), user_id, password, client))


@routes.post("/api/v1/sessions")
async def login(request: web.Request) -> web.Response:
    body = await _body(request)
    user_id = check_id(body.get("user_id"), "user id")
    password = _text(body, "password", MAX_PASSWORD)
    svc = _svc(request)
    client = await _client(request)
    result = await svc.login(_op_id(body), user_id, password, _peer_addr(body), _fingerprint(body), client)
    return _answer(result)


@routes.delete("/api/v1/sessions/current")
async def logout(request: web.Request) -> web.Response:
    body = await _body(request)
    return _answer(await _svc(request).logout(_op_id(body), _token(request)))


@routes.post("/api/v1/heartbeat")
async def heartbeat(request: web.Request) -> web.Response:
    raw = await _raw_body(request)
    return _json_bytes(heartbeat_answer(_svc(request), request.headers.get("Authorization", ""), raw))


@routes.delete("/api/v1/heartbeat")
async def going_offline(request: web.Request) -> web.Response:
    """A node stopping cleanly: its user stays logged in, but no longer counts as online or as a seeder now,
    rather than one peer timeout later (soft state, not logged; its next heartbeat brings it back)."""
    _svc(request).going_offline(_token(request))
    return web.json_response({})


def heartbeat_answer(svc: TrackerService, authorization: str, raw: bytes) -> bytes:
    """The heartbeat from the raw header and body: this handler's answer, and the fast path's (``fastpath.py``)."""
    return svc.heartbeat(bearer_token(authorization), _holdings(json_object(raw)))


# ---------------------------------------------------------------------------------------------- groups

@routes.get("/api/v1/groups")
async def list_groups(request: web.Request) -> web.Response:
    groups = queries.list_groups(_svc(request), _token(request))
    return web.json_response({"groups": [asdict(g) for g in groups]})


@routes.post("/api/v1/groups")
async def create_group(request: web.Request) -> web.Response:
    body = await _body(request)
    gid = check_id(body.get("group_id"), "group id")
    return _answer(await _svc(request).create_group(_op_id(body), _token(request), gid))


@routes.get("/api/v1/groups/{gid}")
async def group_info(request: web.Request) -> web.Response:
    return web.json_response(asdict(queries.group_info(_svc(request), _token(request), _gid(request))))


@routes.post("/api/v1/groups/{gid}/join")
async def join_group(request: web.Request) -> web.Response:
    body = await _body(request)
    return _answer(await _svc(request).join_group(_op_id(body), _token(request), _gid(request)))


@routes.post("/api/v1/groups/{gid}/leave")
async def leave_group(request: web.Request) -> web.Response:
    body = await _body(request)
    return _answer(await _svc(request).leave_group(_op_id(body), _token(request), _gid(request)))


@routes.get("/api/v1/groups/{gid}/requests")
async def list_requests(request: web.Request) -> web.Response:
    return web.json_response({"requests": queries.list_requests(_svc(request), _token(request), _gid(request))})


async def _decide(request: web.Request, accept: bool) -> web.Response:
    body = await _body(request)
    uid = check_id(request.match_info["uid"], "user id")
    result = await _svc(request).decide_request(_op_id(body), _token(request), _gid(request), uid, accept)
    return _answer(result)


@routes.post("/api/v1/groups/{gid}/requests/{uid}/accept")
async def accept_request(request: web.Request) -> web.Response:
    return await _decide(request, True)


@routes.post("/api/v1/groups/{gid}/requests/{uid}/reject")
async def reject_request(request: web.Request) -> web.Response:
    return await _decide(request, False)


# ---------------------------------------------------------------------------------------------- files

@routes.get("/api/v1/groups/{gid}/files")
async def list_files(request: web.Request) -> web.Response:
    auth = request.headers.get("Authorization", "")
    return _json_bytes(list_files_answer(_svc(request), auth, request.match_info["gid"]))


def list_files_answer(svc: TrackerService, authorization: str, group_id: str) -> bytes:
    """list_files from the raw header and the path's group id: this handler's answer, and the fast path's."""
    return queries.list_files_body(svc, bearer_token(authorization), check_id(group_id, "group id"))


@routes.post("/api/v1/groups/{gid}/files")
async def share_file(request: web.Request) -> web.Response:
    body = await _body(request)
    gid = _gid(request)
    op_id = _op_id(body)
    meta = FileMeta.from_json(body)
    return _answer(await _svc(request).share_file(op_id, _token(request), gid, meta))


@routes.get("/api/v1/groups/{gid}/files/{name:[^/]+}")  # the default pattern refuses braces
async def file_detail(request: web.Request) -> web.Response:
    name = check_file_name(request.match_info["name"])
    detail = queries.file_detail(_svc(request), _token(request), _gid(request), name)
    seeders = [{"user_id": s.user_id, "addr": s.addr, "fingerprint": s.fingerprint, "pieces": _pieces(s.pieces)}
               for s in detail.seeders]
    return web.json_response({**detail.meta.to_json(), "seeders": seeders, "token": detail.token,
                              "token_expires_at": detail.token_expires_at})


@routes.delete("/api/v1/groups/{gid}/files/{name:[^/]+}/share")
async def stop_share(request: web.Request) -> web.Response:
    body = await _body(request)
    name = check_file_name(request.match_info["name"])
    return _answer(await _svc(request).stop_share(_op_id(body), _token(request), _gid(request), name))


# ---------------------------------------------------------------------------------------------- health

@routes.get("/healthz")
async def healthz(request: web.Request) -> web.Response:
    svc = _svc(request)
    return web.json_response({"role": svc.role, "epoch": svc.state.epoch, "tracker_no": svc.config.tracker_no,
                              "log_index": svc.state.index, "primary": request.app[REPLICATOR].live_primary(),
                              **request.app[STORE_HEALTH].fields()})
