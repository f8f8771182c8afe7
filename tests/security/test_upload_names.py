"""Traversal and control-character names at upload, through a real node logged in to a real tracker (both
in-process on loopback ports): from /cmd and from the browser's multipart upload. A hostile name is refused
before anything is shared; a path-like upload name keeps only its last component, inside the node's upload area."""

from __future__ import annotations

import asyncio
import dataclasses
import errno
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestServer

from bench.ports import free_port
from peer_node.app import create_app as create_node_app
from peer_node.config import NodeConfig
from peer_node.web_ui import transfer as transfer_module
from tests.tracker.helpers import Clock, make_config
from tracker_server.app import create_app as create_tracker_app
from wire.tracker_list import TrackerAddress


@dataclass
class World:
    node: Any
    key: str
    tmp: Path
    data_dir: Path

    async def cmd(self, line: str) -> tuple[int, str]:
        resp = await self.node.post("/cmd", data=line.encode(), headers={"Authorization": f"Bearer {self.key}"})
        return resp.status, await resp.text()


@pytest.fixture
async def world(aiohttp_client: Callable[..., Awaitable[Any]], tmp_path: Path) -> AsyncIterator[World]:
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
    w = World(node, (node_config.data_dir / "api-key").read_text("ascii").strip(), tmp_path, node_config.data_dir)
    try:
        for line in ("create_user alice pw-alice", "login alice pw-alice", "create_group g1"):
            status, text = await w.cmd(line)
            assert status == 200, (line, text)
        yield w
    finally:
        await node.close()
        await tracker.close()


@pytest.mark.parametrize("name", ["a\x1bb", "a\nb", "a\x7fb", "tab\there"])
async def test_a_local_file_with_a_control_character_in_its_name_is_not_shared(world: World, name: str) -> None:
    path = world.tmp / name
    path.write_bytes(b"data")
    quoted = "'" + str(path).replace("'", "'\"'\"'") + "'"
    status, text = await world.cmd(f"upload_file {quoted} g1")
    assert status == 400 and text.startswith("error: ")
    assert (await world.cmd("list_files g1")) == (200, "")


async def test_upload_file_with_dot_dot_in_its_path_shares_the_real_file_under_its_own_name(world: World) -> None:
    (world.tmp / "sub").mkdir()
    (world.tmp / "real.txt").write_bytes(b"hello")
    status, text = await world.cmd(f"upload_file {world.tmp}/sub/../real.txt g1")
    assert status == 200, text
    status, listing = await world.cmd("list_files g1")
    assert listing.split("\t")[0] == "real.txt"


async def _browser_upload(world: World, filename: str, payload: bytes) -> Any:
    origin = f"http://127.0.0.1:{world.node.server.port}"
    page = await (await world.node.get("/login")).text()
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token is not None
    resp = await world.node.post("/login", data={"user_id": "alice", "password": "pw-alice",
                                                 "csrf_token": token.group(1)}, headers={"Origin": origin})
    assert resp.status == 200
    page = await (await world.node.get("/groups/g1")).text()
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token is not None
    # Built by hand: aiohttp's FormData would percent-encode the name; a hostile client sends it raw.
    boundary = "----attack"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"csrf_token\"\r\n\r\n{token.group(1)}\r\n"
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{filename}\"\r\n"
            f"Content-Type: application/octet-stream\r\n\r\n").encode() + payload + f"\r\n--{boundary}--\r\n".encode()
    return await world.node.post("/groups/g1/upload", data=body, allow_redirects=False, headers={
        "Origin": origin, "Content-Type": f"multipart/form-data; boundary={boundary}"})


async def test_a_browser_upload_the_disk_cannot_take_is_refused_in_words_and_leaves_nothing(
        world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    async def full(part: Any, target: Path) -> int:
        await asyncio.to_thread(target.write_bytes, b"half")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(transfer_module, "_copy_part", full)
    resp = await _browser_upload(world, "big.bin", b"payload")
    assert resp.status == 400  # a page with the reason by the upload field, not a 500
    assert "The node could not keep the upload: No space left on device. Nothing was shared." in await resp.text()
    assert not [p for p in (world.data_dir / "uploads").rglob("*") if p.is_file()]
    assert (await world.cmd("list_files g1")) == (200, "")


@pytest.mark.parametrize("filename,stored", [("../../../../tmp/evil.txt", "evil.txt"),
                                             # in a quoted-string a backslash escapes the next character
                                             ("..\\..\\evil2.txt", "....evil2.txt"), ("/etc/cron.d/x", "x")])
async def test_a_browser_upload_named_like_a_path_lands_inside_the_upload_area(world: World, filename: str,
                                                                                stored: str) -> None:
    resp = await _browser_upload(world, filename, b"payload")
    assert resp.status < 500
    written = [p for p in world.data_dir.rglob("*") if p.is_file() and p.read_bytes() == b"payload"]
    assert [p.name for p in written] == [stored]
    assert written[0].resolve().is_relative_to((world.data_dir / "uploads").resolve())
