"""The upload and download limits on the downloads page, made the same way and tested the same way here (each test
once per limit): one line says each limit in words, a small form of its own under it in one disclosure changes it
(also without JavaScript and by keyboard), a bad rate is explained by its own field and leaves the other form as
it was, the form needs the CSRF token, and a change made elsewhere reaches an open page. Each test puts the node's
limits back through /cmd, as other tests share these nodes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Browser, BrowserContext, Locator, Page, expect

from tests.browser.helpers import DESKTOP, PHONE, World, assert_fits, ensure_logged_in, save_limit, url
from tests.support.cluster import Node

pytestmark = pytest.mark.browser

LIMITS = ("upload", "download")
WORD = {"upload": "Uploads", "download": "Downloads"}


def other(which: str) -> str:
    return "download" if which == "upload" else "upload"


def limits_of(node: Node) -> dict[str, int | None]:
    status = node.api("/api/status")
    return {which: status[f"{which}_limit"] for which in LIMITS}


def reset(node: Node) -> None:
    for which in LIMITS:
        node.ok(f"set_{which}_limit 0")


async def tab_to(page: Page, target: Locator, what: str, tries: int) -> None:
    """Press Tab until ``target`` has the focus, at most ``tries`` times (by keyboard alone)."""
    for _ in range(tries):
        await page.keyboard.press("Tab")
        if await target.evaluate("e => e === document.activeElement"):
            return
    raise AssertionError(f"{what} is not reachable by Tab")


@pytest.mark.parametrize("which", LIMITS)
async def test_a_limit_set_on_the_page_reaches_the_node_and_0_lifts_it_without_javascript(
        browser: Browser, world: World, which: str) -> None:
    node, word = world.carol, WORD[which]
    ctx = await browser.new_context(viewport=DESKTOP, java_script_enabled=False)
    try:
        page = await ctx.new_page()
        await ensure_logged_in(page, node)
        await page.goto(url(node, "/downloads"))
        now = page.locator(f"#{which}-limit-now")
        await expect(now).to_have_text(f"{word}: no limit")
        assert await page.get_attribute(f"#{which}-limit", "placeholder") == "e.g. 10M or 0 for no limit"
        await expect(page.get_by_label(f"{which.capitalize()} limit for this node")).to_have_count(1)

        await save_limit(page, which, "10M")
        await expect(page.locator("#toast > span")).to_have_text(f"{word} are now limited to 10 MB/s.")
        assert page.url == url(node, "/downloads"), "a saved form redirects back to the page (post/redirect/get)"
        await expect(now).to_have_text(f"{word} limited to 10 MB/s")
        await expect(page.locator(f"#{other(which)}-limit-now")).to_have_text(f"{WORD[other(which)]}: no limit")
        assert limits_of(node) == {which: 10_000_000, other(which): None}
        assert await page.input_value(f"#{which}-limit") == "10 MB/s", "the form offers the current limit to edit"
        assert await page.input_value(f"#{other(which)}-limit") == ""
        await page.reload()  # a reload shows the page again, it does not post the form again
        await expect(page.locator("#toast")).to_have_count(0)

        await save_limit(page, which, "0")
        await expect(page.locator("#toast > span")).to_have_text(f"{word} are no longer limited.")
        await expect(now).to_have_text(f"{word}: no limit")
        assert limits_of(node) == {which: None, other(which): None}
    finally:
        await ctx.close()
        reset(node)


@pytest.mark.parametrize("which", LIMITS)
async def test_a_bad_rate_is_explained_by_its_own_field_by_keyboard_and_changes_nothing(
        page: Page, world: World, which: str) -> None:
    node = world.carol
    node.ok(f"set_{which}_limit 5M")
    node.ok(f"set_{other(which)}_limit 2M")
    try:
        await ensure_logged_in(page, node)
        await page.goto(url(node, "/downloads"))
        summary = page.locator("details.limit > summary")
        await expect(summary).to_contain_text(f"{WORD[which]} limited to 5 MB/s")
        # By keyboard alone: Tab to the line, Enter opens it, Tab to the field (the upload form comes first), Enter
        # sends it.
        await tab_to(page, summary, "the limits", 30)
        await page.keyboard.press("Enter")
        field = page.locator(f"#{which}-limit")
        await tab_to(page, field, f"the {which} limit's field", 4)
        await page.keyboard.press("ControlOrMeta+a")
        await page.keyboard.type("fast")
        await page.keyboard.press("Enter")

        error = page.locator(f"#{which}-limit-error")
        await expect(error).to_contain_text("Not a rate: 'fast'")
        await expect(error).to_contain_text("0 for no limit")
        await expect(field).to_have_value("fast")
        await expect(field).to_have_attribute("aria-invalid", "true")
        assert f"{which}-limit-error" in (await field.get_attribute("aria-describedby") or "").split()
        # Next to the field: in the same form, right under the input.
        field_box, error_box = await field.bounding_box(), await error.bounding_box()
        assert field_box is not None and error_box is not None
        assert 0 <= error_box["y"] - (field_box["y"] + field_box["height"]) < 48, (field_box, error_box)
        # The other form is left as it was: its value, no error, not marked invalid.
        await expect(page.locator(f"#{other(which)}-limit")).to_have_value("2 MB/s")
        await expect(page.locator(f"#{other(which)}-limit-error")).to_have_count(0)
        assert await page.get_attribute(f"#{other(which)}-limit", "aria-invalid") is None
        await expect(page.locator(f"#{which}-limit-now")).to_have_text(f"{WORD[which]} limited to 5 MB/s")
        assert limits_of(node) == {which: 5_000_000, other(which): 2_000_000}

        await field.focus()
        await page.keyboard.press("Escape")  # Esc closes the disclosure and leaves focus on its summary
        assert not await page.locator("details.limit").evaluate("d => d.open")
        assert await summary.evaluate("s => s === document.activeElement")
    finally:
        reset(node)


@pytest.mark.parametrize("which", LIMITS)
async def test_the_limit_form_is_refused_without_a_valid_csrf_token(page: Page, context: BrowserContext,
                                                                    world: World, which: str) -> None:
    node = world.carol
    await ensure_logged_in(page, node)
    await page.goto(url(node, "/downloads"))
    origin = url(node, "").rstrip("/")
    target = url(node, f"/downloads/{which}-limit")
    missing = await context.request.post(target, form={"rate": "1k"}, headers={"Origin": origin}, max_redirects=0)
    assert missing.status == 403
    wrong = await context.request.post(target, form={"rate": "1k", "csrf_token": "x" * 43},
                                       headers={"Origin": origin}, max_redirects=0)
    assert wrong.status == 403
    assert limits_of(node) == {which: None, other(which): None}
    token = await page.get_attribute(f"form[action='/downloads/{which}-limit'] input[name=csrf_token]", "value")
    accepted = await context.request.post(target, form={"rate": "1k", "csrf_token": token or ""},
                                          headers={"Origin": origin}, max_redirects=0)
    try:
        assert accepted.status == 303, "the same post with the page's token goes through"
        assert limits_of(node) == {which: 1000, other(which): None}
    finally:
        reset(node)


@pytest.mark.parametrize("which", LIMITS)
async def test_a_limit_changed_elsewhere_reaches_an_open_downloads_page(page: Page, world: World, which: str) -> None:
    """Set by /cmd (or another tab) while the page is open: the line and the form's value follow, no reload."""
    node, word = world.carol, WORD[which]
    await ensure_logged_in(page, node)
    await page.goto(url(node, "/downloads"))
    now = page.locator(f"#{which}-limit-now")
    await expect(now).to_have_text(f"{word}: no limit")
    try:
        node.ok(f"set_{which}_limit 3M")
        await expect(now).to_have_text(f"{word} limited to 3 MB/s")
        await expect(page.locator(f"#{which}-limit")).to_have_value("3 MB/s")
        await expect(page.locator(f"#{other(which)}-limit-now")).to_have_text(f"{WORD[other(which)]}: no limit")
    finally:
        reset(node)
    await expect(now).to_have_text(f"{word}: no limit")
    await expect(page.locator(f"#{which}-limit")).to_have_value("")


async def downloads_page_at_each_size(browser: Browser, node: Node) -> AsyncIterator[tuple[Page, int, str]]:
    """``node``'s downloads page, logged in, on a desktop and then a phone: each with how high its first row may
    start (px) and the words that say which window it is."""
    for viewport, top in ((DESKTOP, 250), (PHONE, 400)):
        ctx = await browser.new_context(viewport=viewport)
        try:
            page = await ctx.new_page()
            await ensure_logged_in(page, node)
            await page.goto(url(node, "/downloads"))
            yield page, top, f"at {viewport['width']}px"
        finally:
            await ctx.close()


async def test_the_limit_line_and_its_notice_leave_the_first_download_row_high(browser: Browser,
                                                                               world: World) -> None:
    node = world.bob  # bob has a finished download, so the page has a row
    try:
        async for page, top, where in downloads_page_at_each_size(browser, node):
            await save_limit(page, "upload", "1G")
            toast = page.locator("#toast")
            await expect(toast.locator("span")).to_have_text("Uploads are now limited to 1 GB/s.")
            assert await toast.evaluate("t => getComputedStyle(t).position") == "fixed"
            await assert_fits(page, top, where)
    finally:
        reset(node)


async def test_both_limits_set_leave_the_first_download_row_high_and_nothing_scrolls_sideways(
        browser: Browser, world: World) -> None:
    node = world.bob
    node.ok("set_upload_limit 125M")
    node.ok("set_download_limit 12.5M")  # the longest words the line has
    try:
        async for page, top, where in downloads_page_at_each_size(browser, node):
            await expect(page.locator("#download-limit-now")).to_have_text("Downloads limited to 12.5 MB/s")
            await assert_fits(page, top, where)
    finally:
        reset(node)
