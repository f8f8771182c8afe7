"""Tab's completion cache against a real node and tracker, both in-process: filled by the answers the node gets
anyway and by what Tab asks for in the background, emptied at logout, and never showing one user's groups or files
to the next."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from peer_node.app import SERVICE
from peer_node.completion_cache import Ask, Known
from peer_node.views import GroupRole
from tests.security.live_node import World, live_world


async def ok(world: World, line: str) -> str:
    status, text = await world.cmd(line)
    assert status == 200, (line, text)
    return text


async def until(check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 10.0
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)


async def test_answers_fill_the_cache_a_logout_empties_it_and_the_next_user_sees_only_their_own(
        aiohttp_client: Callable[..., Awaitable[Any]], tmp_path: Path) -> None:
    async with live_world(aiohttp_client, tmp_path) as world:
        service = world.node.app[SERVICE]
        cache = service.completion
        assert cache.known.user == "alice" and cache.known.groups.get("g1") is GroupRole.OWNER  # create_group
        (tmp_path / "my notes.txt").write_text("notes\n", encoding="utf-8")
        await ok(world, "create_group g2")
        await ok(world, f"upload_file '{tmp_path / 'my notes.txt'}' g2")
        await ok(world, "list_files g1")  # a listing the user asked for is kept
        assert cache.known.files["g1"].names == ()
        # What Tab finds missing is listed in the background
        service.refresh_known((Ask.FILES, "g2"))
        await until(lambda: "g2" in cache.known.files, "g2's files to be listed")
        assert cache.known.files["g2"].names == ("my notes.txt",)
        service.note_local_names()
        assert cache.known.shares == {"g2": ("my notes.txt",)}

        await ok(world, "logout")
        assert cache.known == Known()

        await ok(world, "create_user bob pw-bob-1")
        await ok(world, "login bob pw-bob-1")
        await until(lambda: cache.known.groups_at is not None, "bob's groups to be listed at login")
        k = cache.known
        assert k.user == "bob"
        assert k.groups == {"g1": GroupRole.NONE, "g2": GroupRole.NONE}  # offered to join_group, nothing else
        assert k.files == {} and k.shares == {}
        asked_at = time.monotonic()
        service.refresh_known((Ask.FILES, "g1"))  # the tracker refuses a non-member: nothing, and no error
        await until(lambda: not service._refreshing, "the refused listing to end")
        # Kept as an empty listing of that moment: Tab neither waits for it nor asks again until it is stale.
        refused = cache.known.files["g1"]
        assert refused.names == () and asked_at <= refused.at <= time.monotonic()
