"""The download limit on the downloads page, beside the upload limit and made the same way: its words in the same
line, a form of its own in the same disclosure (also without JavaScript and by keyboard), a bad rate explained by
its own field, the CSRF token required, and a change made elsewhere followed live. Each test puts the node's
limits back through /cmd, as other tests share these nodes.
"""

from __future__ import annotations

import pytest
from playwright.async_api import Browser, BrowserContext, Page, expect

from tests.browser.helpers import DESKTOP, PHONE, World, assert_fits, ensure_logged_in, save_limit, url
from tests.support.cluster import Node

pytestmark = pytest.mark.browser


def limits_of(node: Node) -> tuple[int | None, int | None]:
    status = node.api("/api/status")
    return status["upload_limit"], status["download_limit"]


async def test_a_download_limit_set_on_the_page_reaches_the_node_and_0_lifts_it_without_javascript(
        browser: Browser, world: World) -> None:
    node = world.carol
    ctx = await browser.new_context(viewport=DESKTOP, java_script_enabled=False)
    try:
        page = await ctx.new_page()
        await ensure_logged_in(page, node)
        await page.goto(url(node, "/downloads"))
        now = page.locator("#download-limit-now")
        await expect(now).to_have_text("Downloads: no limit")
        await expect(page.locator("#upload-limit-now")).to_have_text("Uploads: no limit")
        assert await page.get_attribute("#download-limit", "placeholder") == "e.g. 10M or 0 for no limit"
        await expect(page.get_by_label("Download limit for this node")).to_have_count(1)

        await save_limit(page, "download", "10M")
        await expect(page.locator("#toast > span")).to_have_text("Downloads are now limited to 10 MB/s.")
        assert page.url == url(node, "/downloads"), "a saved form redirects back to the page (post/redirect/get)"
        await expect(now).to_have_text("Downloads limited to 10 MB/s")
        await expect(page.locator("#upload-limit-now")).to_have_text("Uploads: no limit")
        assert limits_of(node) == (None, 10_000_000)
        assert await page.input_value("#download-limit") == "10 MB/s", "the form offers the current limit to edit"
        assert await page.input_value("#upload-limit") == ""

        await save_limit(page, "download", "0")
        await expect(page.locator("#toast > span")).to_have_text("Downloads are no longer limited.")
        await expect(now).to_have_text("Downloads: no limit")
        assert limits_of(node) == (None, None)
    finally:
        await ctx.close()
        node.ok("set_download_limit 0")


async def test_a_bad_rate_is_explained_by_its_own_field_by_keyboard_and_changes_nothing(
        page: Page, world: World) -> None:
    node = world.carol
    node.ok("set_download_limit 5M")
    node.ok("set_upload_limit 2M")
    try:
        await ensure_logged_in(page, node)
        await page.goto(url(node, "/downloads"))
        summary = page.locator("details.limit > summary")
        await expect(summary).to_contain_text("Downloads limited to 5 MB/s")
        for _ in range(30):  # by keyboard alone: Tab to the line, Enter opens it, Tab to the field, Enter sends
            await page.keyboard.press("Tab")
            if await summary.evaluate("s => s === document.activeElement"):
                break
        else:
            raise AssertionError("the limits are not reachable by Tab")
        await page.keyboard.press("Enter")
        for _ in range(4):  # the upload field, its button, then the download field
            await page.keyboard.press("Tab")
            if await page.evaluate("document.activeElement.id") == "download-limit":
                break
        assert await page.evaluate("document.activeElement.id") == "download-limit"
        await page.keyboard.press("ControlOrMeta+a")
        await page.keyboard.type("fast")
        await page.keyboard.press("Enter")

        error = page.locator("#download-limit-error")
        await expect(error).to_contain_text("Not a rate: 'fast'")
        field = page.locator("#download-limit")
        await expect(field).to_have_value("fast")
        await expect(field).to_have_attribute("aria-invalid", "true")
        assert "download-limit-error" in (await field.get_attribute("aria-describedby") or "").split()
        field_box, error_box = await field.bounding_box(), await error.bounding_box()
        assert field_box is not None and error_box is not None
        assert 0 <= error_box["y"] - (field_box["y"] + field_box["height"]) < 48, (field_box, error_box)
        # The other form is left as it was: its value, no error, not marked invalid.
        await expect(page.locator("#upload-limit")).to_have_value("2 MB/s")
        await expect(page.locator("#upload-limit-error")).to_have_count(0)
        assert await page.get_attribute("#upload-limit", "aria-invalid") is None
        await expect(page.locator("#download-limit-now")).to_have_text("Downloads limited to 5 MB/s")
        assert limits_of(node) == (2_000_000, 5_000_000)
    finally:
        node.ok("set_download_limit 0")
        node.ok("set_upload_limit 0")


async def test_the_download_limit_form_is_refused_without_a_valid_csrf_token(page: Page, context: BrowserContext,
                                                                             world: World) -> None:
    node = world.carol
    await ensure_logged_in(page, node)
    await page.goto(url(node, "/downloads"))
    origin = url(node, "").rstrip("/")
    target = url(node, "/downloads/download-limit")
    missing = await context.request.post(target, form={"rate": "1k"}, headers={"Origin": origin}, max_redirects=0)
    assert missing.status == 403
    assert limits_of(node) == (None, None)
    token = await page.get_attribute("form[action='/downloads/download-limit'] input[name=csrf_token]", "value")
    accepted = await context.request.post(target, form={"rate": "1k", "csrf_token": token or ""},
                                          headers={"Origin": origin}, max_redirects=0)
    try:
        assert accepted.status == 303, "the same post with the page's token goes through"
        assert limits_of(node) == (None, 1000)
    finally:
        node.ok("set_download_limit 0")


async def test_both_limits_set_leave_the_first_download_row_high_and_nothing_scrolls_sideways(
        browser: Browser, world: World) -> None:
    node = world.bob  # bob has a finished download, so the page has a row
    node.ok("set_upload_limit 125M")
    node.ok("set_download_limit 12.5M")  # the longest words the line has
    try:
        for viewport, top in ((DESKTOP, 250), (PHONE, 400)):
            ctx = await browser.new_context(viewport=viewport)
            try:
                page = await ctx.new_page()
                await ensure_logged_in(page, node)
                await page.goto(url(node, "/downloads"))
                await expect(page.locator("#download-limit-now")).to_have_text("Downloads limited to 12.5 MB/s")
                await assert_fits(page, top, f"at {viewport['width']}px")
            finally:
                await ctx.close()
    finally:
        node.ok("set_upload_limit 0")
        node.ok("set_download_limit 0")


async def test_a_download_limit_changed_elsewhere_reaches_an_open_downloads_page(page: Page, world: World) -> None:
    node = world.carol
    await ensure_logged_in(page, node)
    await page.goto(url(node, "/downloads"))
    now = page.locator("#download-limit-now")
    await expect(now).to_have_text("Downloads: no limit")
    try:
        node.ok("set_download_limit 3M")
        await expect(now).to_have_text("Downloads limited to 3 MB/s")
        await expect(page.locator("#download-limit")).to_have_value("3 MB/s")
        await expect(page.locator("#upload-limit-now")).to_have_text("Uploads: no limit")
    finally:
        node.ok("set_download_limit 0")
    await expect(now).to_have_text("Downloads: no limit")
    await expect(page.locator("#download-limit")).to_have_value("")
