"""Load for the tracker scenario: preload users, groups, files and live peers through the tracker API, then run
wrk (Debian's ``wrk``, a kept tool, in its own process) and read its figures.

Theory of operation: the preload uses the public API v1 only, with an aiohttp client and bounded concurrency:
every peer is a user (created, logged in with its own peer address), a member of one group; the first
``files`` members beyond the owners each share one small file; every peer then heartbeats once (holders say
"all") so all are live. The peers file written for wrk has one line per peer: session token, group id, the
sha256 of the file it holds (or ``-``). wrk's Lua script prints one ``WRK_JSON {...}`` line that
:func:`parse_wrk` reads; a run whose requests failed (non-2xx, socket errors) is reported with its error count.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import subprocess
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

WRK_DIR = Path(__file__).resolve().parent / "wrk"
FILES_PER_GROUP = 20


@dataclass(frozen=True)
class WrkResult:
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    requests: int


def parse_wrk(output: str) -> WrkResult:
    for line in output.splitlines():
        if line.startswith("WRK_JSON "):
            d = json.loads(line[len("WRK_JSON "):])
            errors = sum(int(d[k]) for k in ("status", "connect", "read", "write", "timeout"))
            return WrkResult(rps=d["requests"] / (d["duration_us"] / 1e6), p50_ms=d["p50_us"] / 1000,
                             p99_ms=d["p99_us"] / 1000, errors=errors, requests=int(d["requests"]))
    raise RuntimeError(f"wrk printed no result:\n{output[-2000:]}")


def run_wrk(port: int, script: str, args: list[str], *, threads: int, connections: int, seconds: int) -> WrkResult:
    argv = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--timeout", "5s",
            "-s", str(WRK_DIR / script), f"http://127.0.0.1:{port}", "--", *args]
    res = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60, check=False)
    if res.returncode != 0:
        raise RuntimeError(f"wrk failed ({res.returncode}): {res.stderr.strip()[-500:]}")
    return parse_wrk(res.stdout)


@dataclass
class Preloaded:
    peers_file: Path
    list_bodies: dict[str, bytes]  # group id -> the tracker's list_files answer (for the reference server)
    tokens: dict[str, tuple[str, str]]  # token -> (user id, group id)


class _Throttled(Exception):
    def __init__(self, retry_after: float) -> None:
        super().__init__(f"429, retry after {retry_after}s")
        self.retry_after = retry_after


class _Api:
    def __init__(self, session: aiohttp.ClientSession, base: str, limit: int) -> None:
        self.session, self.base, self.sem = session, base, asyncio.Semaphore(limit)
        # The tracker counts logins in flight from one address against its throttle (20 free): stay below.
        self.login_sem = asyncio.Semaphore(8)

    async def login(self, body: dict[str, Any]) -> Any:
        async with self.login_sem:
            return (await self.call("POST", "/sessions", body))[1]

    async def call(self, method: str, path: str, body: dict[str, Any] | None = None,
                   token: str | None = None, ok: tuple[int, ...] = (200, 201, 202)) -> tuple[bytes, Any]:
        """One API call; a 429 or 503 is retried (same op_id, so it applies once) after the wait it asks for."""
        for _ in range(50):
            try:
                return await self._call(method, path, body, token, ok)
            except _Throttled as e:
                await asyncio.sleep(e.retry_after)
        raise RuntimeError(f"{method} {path}: still refused after 50 tries")

    async def _call(self, method: str, path: str, body: dict[str, Any] | None, token: str | None,
                    ok: tuple[int, ...]) -> tuple[bytes, Any]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        async with self.sem, self.session.request(method, self.base + path, json=body, headers=headers) as r:
            raw = await r.read()
            if r.status == 429:
                raise _Throttled(float(r.headers.get("Retry-After", "1")))
            if r.status == 503:  # no primary right now (an election): try again shortly
                raise _Throttled(0.2)
            if r.status not in ok:
                raise RuntimeError(f"{method} {path}: {r.status} {raw[:200]!r}")
            return raw, json.loads(raw) if raw else {}


def op(body: dict[str, Any]) -> dict[str, Any]:
    """A mutating call's body: the same with a fresh op_id."""
    return {**body, "op_id": uuid.uuid4().hex}


async def _gather(items: list[Any], fn: Callable[[Any], Awaitable[object]]) -> None:
    await asyncio.gather(*(fn(x) for x in items))


async def preload(port: int, work: Path, peers: int, files: int, concurrency: int = 48) -> Preloaded:
    groups = max(1, min(peers, files // FILES_PER_GROUP))
    users = [f"p{i}" for i in range(peers)]
    group_of = {u: f"g{i % groups}" for i, u in enumerate(users)}
    tokens: dict[str, str] = {}
    holding: dict[str, str] = {}
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as s:
        api = _Api(s, f"http://127.0.0.1:{port}/api/v1", concurrency)

        async def make_user(i_u: tuple[int, str]) -> None:
            i, u = i_u
            await api.call("POST", "/users", op({"user_id": u, "password": f"pw-{u}-secret"}))
            d = await api.login(op({"user_id": u, "password": f"pw-{u}-secret",
                                    "peer_addr": f"127.0.0.1:{10000 + i}", "fingerprint": ""}))
            tokens[u] = d["session"]

        await _gather(list(enumerate(users)), make_user)
        owners = users[:groups]
        await _gather(owners, lambda u: api.call("POST", "/groups", op({"group_id": group_of[u]}), tokens[u]))

        async def join(u: str) -> None:
            g = group_of[u]
            await api.call("POST", f"/groups/{g}/join", op({}), tokens[u])
            await api.call("POST", f"/groups/{g}/requests/{u}/accept", op({}), tokens[owners[int(g[1:])]])

        await _gather(users[groups:], join)
        sharers = [users[(groups + k) % peers] for k in range(files)]

        async def share(k_u: tuple[int, str]) -> None:
            k, u = k_u
            sha = hashlib.sha256(f"file {k}".encode()).hexdigest()
            await api.call("POST", f"/groups/{group_of[u]}/files", op({  # one piece: its hash is the file's
                "file_name": f"file{k}.bin", "size": 1000, "piece_size": 524288, "sha256": sha,
                "piece_hashes": [sha]}), tokens[u])
            holding.setdefault(u, sha)

        await _gather(list(enumerate(sharers)), share)

        async def beat(u: str) -> None:
            held = [{"group_id": group_of[u], "file_sha256": holding[u], "pieces": "all"}] if u in holding else []
            await api.call("POST", "/heartbeat", {"holdings": held}, tokens[u])

        await _gather(users, beat)
        bodies: dict[str, bytes] = {}
        for u in owners:
            bodies[group_of[u]], _ = await api.call("GET", f"/groups/{group_of[u]}/files", None, tokens[u])
    peers_file = work / "peers.txt"
    peers_file.write_text("".join(f"{tokens[u]} {group_of[u]} {holding.get(u, '-')}\n" for u in users))
    return Preloaded(peers_file, bodies, {tokens[u]: (u, group_of[u]) for u in users})
