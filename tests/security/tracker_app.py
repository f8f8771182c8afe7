"""The real tracker app on a real port and SQLite file, for the throttling tests (login and sign-up)."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp.test_utils import TestServer

from tests.tracker.helpers import Clock, make_config
from tracker_server.app import create_app


class Tracker:
    """The real tracker app on a real port and SQLite file; clients may speak from 127.0.0.1 or 127.0.0.2."""

    def __init__(self, data: Path, clock: Clock) -> None:
        self.data, self.clock = data, clock
        self.server: TestServer | None = None
        self.sessions: dict[str, aiohttp.ClientSession] = {}

    async def start(self) -> None:
        self.server = TestServer(create_app(make_config(self.data, self.clock)), host="127.0.0.1")
        await self.server.start_server()

    async def stop(self) -> None:
        for session in self.sessions.values():
            await session.close()
        self.sessions.clear()
        if self.server is not None:
            await self.server.close()
            self.server = None

    def _session(self, source: str) -> aiohttp.ClientSession:
        if source not in self.sessions:
            connector = aiohttp.TCPConnector(local_addr=(source, 0), limit=200)
            self.sessions[source] = aiohttp.ClientSession(connector=connector)
        return self.sessions[source]

    async def post(self, path: str, body: dict[str, Any], source: str = "127.0.0.1",
                   headers: dict[str, str] | None = None) -> tuple[int, dict[str, Any], str | None]:
        assert self.server is not None
        url = f"http://127.0.0.1:{self.server.port}/api/v1{path}"
        async with self._session(source).post(url, json={"op_id": uuid.uuid4().hex, **body},
                                              headers=headers or {}) as resp:
            return resp.status, await resp.json(), resp.headers.get("Retry-After")

    async def user(self, name: str) -> None:
        status, _, _ = await self.post("/users", {"user_id": name, "password": f"pw-{name}"})
        assert status == 201

    async def login(self, name: str, password: str, source: str = "127.0.0.1", headers: dict[str, str] | None = None,
                    op_id: str | None = None) -> tuple[int, dict[str, Any], str | None]:
        body = {"user_id": name, "password": password, "peer_addr": f"{source}:7000"}
        if op_id is not None:
            body["op_id"] = op_id
        return await self.post("/sessions", body, source, headers)


@contextlib.asynccontextmanager
async def running_tracker(tmp_path: Path) -> AsyncIterator[Tracker]:
    """A started ``Tracker`` on a fresh data dir and a test clock, stopped on leaving."""
    t = Tracker(tmp_path / "data", Clock())
    await t.start()
    try:
        yield t
    finally:
        await t.stop()
