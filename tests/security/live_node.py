"""A real node logged in to a real tracker, both in-process on loopback ports, for attack tests that need both:
alice is logged in and owns group g1. ``browser_login`` and ``browser_upload`` act as a browser would (session
cookie, CSRF token, Origin header)."""

from __future__ import annotations

import dataclasses
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestServer

from bench.ports import free_port
from peer_node.app import create_app as create_node_app
from peer_node.config import NodeConfig
from tests.tracker.helpers import Clock, make_config
from tracker_server.app import create_app as create_tracker_app
from wire.tracker_list import TrackerAddress


@dataclass
class World:
    node: Any
    key: str
    tmp: Path
    data_dir: Path
    tracker: TestServer  # ``await world.tracker.close()``: no tracker answers any more

    async def cmd(self, line: str) -> tuple[int, str]:
        resp = await self.node.post("/cmd", data=line.encode(), headers={"Authorization": f"Bearer {self.key}"})
        return resp.status, await resp.text()

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.node.server.port}"

    async def csrf_of(self, path: str) -> str:
        token = re.search(r'name="csrf_token" value="([^"]+)"', await (await self.node.get(path)).text())
        assert token is not None, path
        return token.group(1)


@asynccontextmanager
async def live_world(aiohttp_client: Callable[..., Awaitable[Any]], tmp_path: Path) -> AsyncIterator[World]:
    tracker_port = free_port()
    base = make_config(tmp_path / "tracker", Clock())
    config = dataclasses.replace(base, trackers=(TrackerAddress("127.0.0.1", tracker_port, 1),), clock=time.time)
    tracker = TestServer(create_tracker_app(config), host="127.0.0.1", port=tracker_port)
    await tracker.start_server()
    web_port = free_port()
    node_config = NodeConfig(piece_host="127.0.0.1", piece_port=free_port(),
                             trackers=(TrackerAddress("127.0.0.1", tracker_port, 1),), web_port=web_port,
                             data_dir=tmp_path / "node", tracker_timeout_s=5.0, tracker_retry_s=0.0, console=False)
    node = await aiohttp_client(create_node_app(node_config), server_kwargs={"host": "127.0.0.1", "port": web_port})
    w = World(node, (node_config.data_dir / "api-key").read_text("ascii").strip(), tmp_path, node_config.data_dir,
              tracker)
    try:
        for line in ("create_user alice pw-alice", "login alice pw-alice", "create_group g1"):
            status, text = await w.cmd(line)
            assert status == 200, (line, text)
        yield w
    finally:
        await node.close()
        await tracker.close()


async def browser_login(world: World) -> None:
    resp = await world.node.post("/login", data={"user_id": "alice", "password": "pw-alice",
                                                 "csrf_token": await world.csrf_of("/login")},
                                 headers={"Origin": world.origin})
    assert resp.status == 200


async def browser_upload(world: World, filename: str, payload: bytes) -> Any:
    await browser_login(world)
    token = await world.csrf_of("/groups/g1")
    # Built by hand: aiohttp's FormData would percent-encode the name; a hostile client sends it raw.
    boundary = "----attack"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"csrf_token\"\r\n\r\n{token}\r\n"
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{filename}\"\r\n"
            f"Content-Type: application/octet-stream\r\n\r\n").encode() + payload + f"\r\n--{boundary}--\r\n".encode()
    return await world.node.post("/groups/g1/upload", data=body, allow_redirects=False, headers={
        "Origin": world.origin, "Content-Type": f"multipart/form-data; boundary={boundary}"})
