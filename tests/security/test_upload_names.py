"""Traversal and control-character names at upload, through a real node logged in to a real tracker (both
in-process on loopback ports): from /cmd and from the browser's multipart upload. A hostile name is refused
before anything is shared; a path-like upload name keeps only its last component, inside the node's upload area."""

from __future__ import annotations

import asyncio
import errno
from pathlib import Path
from typing import Any

import pytest

from peer_node.web_ui import transfer as transfer_module
from tests.security.live_node import World, browser_upload


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


async def test_a_browser_upload_the_disk_cannot_take_is_refused_in_words_and_leaves_nothing(
        world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    async def full(part: Any, target: Path) -> int:
        await asyncio.to_thread(target.write_bytes, b"half")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(transfer_module, "_copy_part", full)
    resp = await browser_upload(world, "big.bin", b"payload")
    assert resp.status == 400  # a page with the reason by the upload field, not a 500
    assert "The node could not keep the upload: No space left on device. Nothing was shared." in await resp.text()
    assert not [p for p in (world.data_dir / "uploads").rglob("*") if p.is_file()]
    assert (await world.cmd("list_files g1")) == (200, "")


@pytest.mark.parametrize("name", ["a\x01b.txt", "a\x1bb.txt", "tab\there.txt"])
async def test_a_browser_upload_with_a_control_character_in_its_name_is_refused_in_words(world: World,
                                                                                        name: str) -> None:
    resp = await browser_upload(world, name, b"payload")
    assert resp.status == 400, await resp.text()  # not a 500 from the part's headers
    assert "control character" in await resp.text()
    assert not [p for p in (world.data_dir / "uploads").rglob("*") if p.is_file()]
    assert (await world.cmd("list_files g1")) == (200, "")


@pytest.mark.parametrize("filename,stored", [("../../../../tmp/evil.txt", "evil.txt"),
                                             # in a quoted-string a backslash escapes the next character
                                             ("..\\..\\evil2.txt", "....evil2.txt"), ("/etc/cron.d/x", "x")])
async def test_a_browser_upload_named_like_a_path_lands_inside_the_upload_area(world: World, filename: str,
                                                                                stored: str) -> None:
    resp = await browser_upload(world, filename, b"payload")
    assert resp.status < 500
    written = [p for p in world.data_dir.rglob("*") if p.is_file() and p.read_bytes() == b"payload"]
    assert [p.name for p in written] == [stored]
    assert written[0].resolve().is_relative_to((world.data_dir / "uploads").resolve())
