"""A working directory whose name is not UTF-8 (``b'x-\\xff-dir'``): a relative path under it reaches the node as
a str with surrogates. Answers that name such a path are still answers (the surrogate escaped), never a 500."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.security.live_node import World, browser_login


@pytest.fixture
def odd_cwd(world: World, monkeypatch: pytest.MonkeyPatch) -> Path:
    place = os.fsencode(world.tmp) + b"/x-\xff\xfe-dir"
    os.mkdir(place)
    os.mkdir(place + b"/share")
    with open(place + b"/share/f.bin", "wb") as f:
        f.write(b"piece " * 1000)
    monkeypatch.chdir(os.fsdecode(place))
    return Path(os.fsdecode(place))


async def test_a_command_naming_a_non_utf8_path_answers_with_the_byte_escaped(world: World, odd_cwd: Path) -> None:
    assert (await world.cmd("upload_file share/f.bin g1"))[0] == 200
    status, text = await world.cmd("download_file g1 f.bin no-such-dir/f.bin")
    assert status == 400, text
    assert text.startswith("error: ") and "x-\\udcff\\udcfe-dir" in text


async def test_a_page_showing_a_non_utf8_path_is_served(world: World, odd_cwd: Path) -> None:
    assert (await world.cmd("upload_file share/f.bin g1"))[0] == 200
    await browser_login(world)
    for page in ("/", "/groups/g1"):
        resp = await world.node.get(page)
        assert resp.status == 200, page
        assert "x-\\udcff\\udcfe-dir" in await resp.text(), page


async def test_a_download_into_a_non_utf8_directory_answers_200_naming_it(world: World, odd_cwd: Path) -> None:
    assert (await world.cmd("upload_file share/f.bin g1"))[0] == 200
    (odd_cwd / "dl").mkdir()
    status, text = await world.cmd("download_file g1 f.bin dl/")
    assert status == 200, text
    assert "x-\\udcff\\udcfe-dir" in text
