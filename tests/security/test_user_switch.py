"""One node, its users in turn (a lab machine): what one user sent is never done as the next one."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from tests.security.live_node import World, browser_login, live_world


async def _ok(world: World, *lines: str) -> None:
    for line in lines:
        status, text = await world.cmd(line)
        assert status == 200, (line, text)


@pytest.mark.parametrize("sent_by", ["upload.js", "a plain form"])
async def test_a_browser_upload_under_way_when_its_user_logs_out_is_shared_by_nobody(
        aiohttp_client: Callable[..., Awaitable[Any]], tmp_path: Path, sent_by: str) -> None:
    """alice's upload is still coming in when she is logged out and erin, also a member of g1, logs in: the
    node took whoever was logged in once the file was in, and shared alice's file as erin's. The refusal is
    alice's: upload.js gets it in JSON; a plain form's post goes to the login page, not to the group page drawn
    for erin."""
    async with live_world(aiohttp_client, tmp_path) as world:
        await _ok(world, "create_user erin pw-erin", "logout", "login erin pw-erin", "join_group g1", "logout",
                  "login alice pw-alice", "accept_request g1 erin")
        await browser_login(world)
        token = await world.csrf_of("/groups/g1")
        halfway = asyncio.Event()
        go_on = asyncio.Event()

        async def body() -> AsyncIterator[bytes]:
            yield (f"--b\r\nContent-Disposition: form-data; name=\"csrf_token\"\r\n\r\n{token}\r\n--b\r\n"
                   "Content-Disposition: form-data; name=\"file\"; filename=\"diary.txt\"\r\n"
                   "Content-Type: text/plain\r\n\r\n").encode() + b"dear diary, " * 1000
            halfway.set()
            await go_on.wait()
            yield b"the rest\r\n--b--\r\n"

        upload = asyncio.create_task(world.node.post(
            "/groups/g1/upload", data=body(), allow_redirects=False,
            headers={"Origin": world.origin, "Content-Type": "multipart/form-data; boundary=b",
                     **({"X-Upload-Progress": "1"} if sent_by == "upload.js" else {})}))
        await asyncio.wait_for(halfway.wait(), 10)
        await asyncio.sleep(0.2)  # the node is copying the part that came
        await _ok(world, "logout", "login erin pw-erin")
        go_on.set()
        answer = await asyncio.wait_for(upload, 30)
        if sent_by == "upload.js":
            assert answer.status == 401
            assert (await answer.json())["error"] == "You (alice) were logged out of this node meanwhile; nothing " \
                                                     "was done."
        else:
            assert answer.status == 303 and answer.headers["Location"].startswith("/login")
        status, listed = await world.cmd("list_files g1")
        assert status == 200 and "diary.txt" not in listed
        assert list((world.data_dir / "uploads").rglob("diary.txt")) == []  # no copy kept either

