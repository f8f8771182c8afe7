"""Helpers of the tracker tests: a settable clock, the test config, and a small JSON API client."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient

from tracker_server.config import TrackerConfig
from wire.tracker_list import TrackerAddress

SECRET = b"test-cluster-secret-0123456789abcdef"
PEER_TIMEOUT = 15.0


class Clock:
    """A clock the test moves by hand, so liveness is tested without sleeping."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def make_config(data_dir: Path, clock: Clock) -> TrackerConfig:
    return TrackerConfig(trackers=(TrackerAddress("127.0.0.1", 1, 1),), tracker_no=1, data_dir=data_dir,
                         secret=SECRET, peer_timeout=PEER_TIMEOUT, scrypt_log2_n=10, clock=clock)


@dataclass
class Api:
    """Thin JSON helper: each call returns (status, body)."""

    client: TestClient[Any, Any]

    async def call(self, method: str, path: str, body: dict[str, Any] | None = None, token: str | None = None,
                   op_id: str | None = None) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        if body is not None and method != "GET" and "op_id" not in body:
            body = {**body, "op_id": op_id or uuid.uuid4().hex}
        resp = await self.client.request(method, path, json=body, headers=headers)
        return resp.status, await resp.json()

    async def ok(self, method: str, path: str, body: dict[str, Any] | None = None, token: str | None = None,
                 want: int | None = None) -> Any:
        status, data = await self.call(method, path, body, token)
        assert status < 300 if want is None else status == want, (method, path, status, data)
        return data

    async def user(self, name: str, addr: str | None = None) -> str:
        """Create ``name`` and log it in from ``addr``; return the session token."""
        await self.ok("POST", "/api/v1/users", {"user_id": name, "password": f"pw-{name}"}, want=201)
        return await self.login(name, addr)

    async def login(self, name: str, addr: str | None = None) -> str:
        data = await self.ok("POST", "/api/v1/sessions", {"user_id": name, "password": f"pw-{name}",
                                                          "peer_addr": addr or f"127.0.0.1:{6000 + len(name)}"})
        return str(data["session"])

    async def beat(self, token: str, holdings: list[dict[str, Any]] | None = None) -> None:
        await self.ok("POST", "/api/v1/heartbeat", {"holdings": holdings or []}, token)

    async def group_with(self, owner: str, gid: str, *members: str) -> None:
        await self.ok("POST", "/api/v1/groups", {"group_id": gid}, owner, want=201)
        for token in members:
            await self.ok("POST", f"/api/v1/groups/{gid}/join", {}, token, want=202)
        for uid in (await self.ok("GET", f"/api/v1/groups/{gid}/requests", None, owner))["requests"]:
            await self.ok("POST", f"/api/v1/groups/{gid}/requests/{uid}/accept", {}, owner)


AppFactory = Callable[[], Awaitable[Api]]
