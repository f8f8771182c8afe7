"""UX bar point 1 (and 7): axe-core finds nothing serious or critical on any page, in light and in dark mode;
each page has one main, one h1 and a labelled navigation. Screenshots of every page land in
test-artifacts/screenshots/ for a reviewer.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import pytest
from axe_playwright_python.async_playwright import Axe
from playwright.async_api import Browser, Page, ViewportSize, expect

from tests.browser.helpers import DESKTOP, PHONE, World, ensure_logged_in, open_until, url
from tests.support.cluster import Node

AXE = Axe()
Scheme = Literal["light", "dark"]

pytestmark = pytest.mark.browser


async def audit(page: Page, what: str) -> list[str]:
    results = await AXE.run(page)
    bad = [f"{what}: {v['id']} ({v['impact']}): {v['help']} -> {[n['target'] for n in v['nodes']][:3]}"
           for v in results.response["violations"] if v.get("impact") in ("serious", "critical")]
    landmarks = await page.evaluate("""() => ({
        main: document.querySelectorAll('main').length,
        h1: document.querySelectorAll('h1').length,
        navs: [...document.querySelectorAll('nav')].map(n => n.getAttribute('aria-label') || ''),
    })""")
    if landmarks["main"] != 1 or landmarks["h1"] != 1 or not all(landmarks["navs"]) or not landmarks["navs"]:
        bad.append(f"{what}: landmarks {landmarks}")
    return bad


async def pages_of(browser: Browser, world: World, scheme: Scheme, viewport: ViewportSize, shots: Path) -> list[str]:
    problems: list[str] = []
    views: list[tuple[Node | None, str, str]] = [
        (None, "/login", "login"), (None, "/register", "register"),
        (world.alice, "/", "dashboard"), (world.alice, "/groups", "groups"),
        (world.alice, "/groups/team", "group-owner"), (world.alice, "/downloads", "downloads-empty"),
        (world.alice, "/groups/no-such-group", "error"),
        (world.bob, "/downloads", "downloads"), (world.bob, "/downloads", "downloads-limit-error"),
        (world.bob, "/groups/team", "group-member"),
        (world.carol, "/groups/team", "group-nonmember"),
    ]
    contexts = {}
    try:
        for node, path, name in views:
            key = node.name if node else "anon"
            if key not in contexts:
                contexts[key] = await browser.new_context(viewport=viewport, color_scheme=scheme)
                pg = await contexts[key].new_page()
                if node is not None:
                    await ensure_logged_in(pg, node)
            page = contexts[key].pages[0]
            target = url(node or world.carol, path)
            if name == "group-owner":
                await open_until(page, target, "li.row:has-text('big.bin')")
            elif name == "downloads-limit-error":  # the upload limit's form open, with a refused rate by its field
                await page.goto(target)
                await page.locator("details.limit > summary").click()
                await page.fill("#upload-limit", "fast")
                await page.get_by_role("button", name="Save limit").click()
                await expect(page.locator("#upload-limit-error")).to_be_visible()
            else:
                await page.goto(target)
            if node is not None:
                assert "/login" not in page.url, f"{name}: not logged in"
            problems += await audit(page, f"{name} [{scheme}]")
            tag = "phone" if viewport == PHONE else "desktop"
            await page.screenshot(path=str(shots / f"{name}-{scheme}-{tag}.png"), full_page=True)
    finally:
        for ctx in contexts.values():
            await ctx.close()
    return problems


@pytest.mark.parametrize(("scheme", "width"), [("light", "desktop"), ("dark", "desktop"), ("dark", "phone")])
async def test_every_page_passes_axe_without_serious_violations(
        browser: Browser, world: World, shots: Path, scheme: Scheme, width: str) -> None:
    problems = await pages_of(browser, world, scheme, DESKTOP if width == "desktop" else PHONE, shots)
    assert problems == []


async def test_dark_toggle_persists_across_pages_and_reloads(browser: Browser, world: World) -> None:
    ctx = await browser.new_context(viewport=DESKTOP, color_scheme="light")
    try:
        page = await ctx.new_page()
        await page.goto(url(world.alice, "/login"))
        bg_light = await page.evaluate("getComputedStyle(document.body).backgroundColor")
        await page.get_by_role("button", name="Switch to the dark theme").click()
        assert await page.evaluate("document.documentElement.dataset.theme") == "dark"
        await page.goto(url(world.alice, "/register"))
        assert await page.evaluate("document.documentElement.dataset.theme") == "dark"
        assert await page.evaluate("getComputedStyle(document.body).backgroundColor") != bg_light
        await page.get_by_role("button", name="Switch to the light theme").click()
        await page.reload()
        assert await page.evaluate("getComputedStyle(document.body).backgroundColor") == bg_light
    finally:
        await ctx.close()
