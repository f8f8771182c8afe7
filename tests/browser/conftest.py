"""Fixtures of the browser suite: one Chromium for the session, a fresh context per test, and real processes.

``world`` is a small network built once through /cmd (2 trackers; alice owns ``team`` and shares two files,
bob is a member with one finished download, carol has asked to join and waits). The nodes stay logged in by
/cmd; a browser then logs in on top with the same password (the node's login is shared). Tests that log a
node out put it back themselves; the story test has its own fresh nodes.
"""

from __future__ import annotations

import shlex
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio
from playwright.async_api import Browser, BrowserContext, Page, async_playwright, expect

from tests.browser.helpers import ARGS, CHROMIUM, DESKTOP, SHOTS, World
from tests.support.cluster import Cluster, make_file

# The machine is shared: give assertions the same generous patience as actions (Playwright's default is 5 s).
expect.set_options(timeout=15_000)


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as p:
        b = await p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        yield b
        await b.close()


@pytest_asyncio.fixture
async def context(browser: Browser) -> AsyncIterator[BrowserContext]:
    ctx = await browser.new_context(viewport=DESKTOP)
    ctx.set_default_timeout(15_000)
    yield ctx
    await ctx.close()


@pytest_asyncio.fixture
async def page(context: BrowserContext) -> Page:
    return await context.new_page()


@pytest.fixture(scope="session")
def shots() -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    return SHOTS


@pytest.fixture(scope="session")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    tmp = tmp_path_factory.mktemp("world")
    with Cluster(tmp, trackers=2) as c:
        c.start_tracker(1)
        c.start_tracker(2)
        alice, bob, carol = c.start_node("alice"), c.start_node("bob"), c.start_node("carol")
        for n in (alice, bob, carol):
            n.login()
        files = tmp / "files"
        make_file(files / "notes.txt", 200_000, 1)
        make_file(files / "big.bin", 3 * 1024 * 1024, 2)
        alice.ok("create_group team")
        alice.ok("create_group zeta")
        bob.ok("join_group team")
        carol.ok("join_group team")
        alice.ok("accept_request team bob")
        alice.ok(f"upload_file {shlex.quote(str(files / 'notes.txt'))} team")
        alice.ok(f"upload_file {shlex.quote(str(files / 'big.bin'))} team")
        (tmp / "bob-dl").mkdir()
        bob.ok(f"download_file team notes.txt {shlex.quote(str(tmp / 'bob-dl'))}")
        bob.wait_download("notes.txt", timeout=60)
        yield World(c, alice, bob, carol, files)
        if any(not p.alive() for p in c.procs):
            print(c.logs())


