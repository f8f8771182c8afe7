"""The upload limit on the downloads page: one line says it in words, a small form under it changes it (also
without JavaScript and by keyboard), a bad rate is explained by the field, and the form needs the CSRF token.
Each test puts the node's limit back through /cmd, as other tests share these nodes.
"""

from __future__ import annotations

import pytest
from playwright.async_api import Browser, BrowserContext, Page, expect

from tests.browser.helpers import DESKTOP, PHONE, World, assert_fits, ensure_logged_in, save_limit, url
from tests.support.cluster import Node

pytestmark = pytest.mark.browser


def limit_of(node: Node) -> int | None:
    limit = node.api("/api/status")["upload_limit"]
    assert limit is None or isinstance(limit, int)
    return limit


async def test_a_limit_set_on_the_page_reaches_the_node_and_0_lifts_it_without_javascript(
        browser: Browser, world: World) -> None:
    node = world.carol
    ctx = await browser.new_context(viewport=DESKTOP, java_script_enabled=False)
    try:
        page = await ctx.new_page()
        await ensure_logged_in(page, node)
        await page.goto(url(node, "/downloads"))
        now = page.locator("#upload-limit-now")
        await expect(now).to_have_text("Uploads: no limit")
        assert await page.get_attribute("#upload-limit", "placeholder") == "e.g. 10M or 0 for no limit"

        await save_limit(page, "upload", "10M")
        await expect(page.locator("#toast > span")).to_have_text("Uploads are now limited to 10 MB/s.")
        assert page.url == url(node, "/downloads"), "a saved form redirects back to the page (post/redirect/get)"
        await expect(now).to_have_text("Uploads limited to 10 MB/s")
        assert limit_of(node) == 10_000_000
        assert await page.input_value("#upload-limit") == "10 MB/s", "the form offers the current limit to edit"
        await page.reload()  # a reload shows the page again, it does not post the form again
        await expect(page.locator("#toast")).to_have_count(0)

        await save_limit(page, "upload", "0")
        await expect(page.locator("#toast > span")).to_have_text("Uploads are no longer limited.")
        await expect(now).to_have_text("Uploads: no limit")
        assert limit_of(node) is None
    finally:
        await ctx.close()
        node.ok("set_upload_limit 0")


async def test_a_bad_rate_is_explained_by_the_field_keeps_the_typing_and_changes_nothing(
        page: Page, world: World) -> None:
    node = world.carol
    node.ok("set_upload_limit 5M")
    try:
        await ensure_logged_in(page, node)
        await page.goto(url(node, "/downloads"))
        summary = page.locator("details.limit > summary")
        for _ in range(30):  # by keyboard alone: Tab to the line, Enter opens it, type, Enter sends
            await page.keyboard.press("Tab")
            if await summary.evaluate("s => s === document.activeElement"):
                break
        else:
            raise AssertionError("the upload limit is not reachable by Tab")
        await expect(summary).to_contain_text("Uploads limited to 5 MB/s")
        await page.keyboard.press("Enter")
        await page.keyboard.press("Tab")
        assert await page.evaluate("document.activeElement.id") == "upload-limit"
        await page.keyboard.press("ControlOrMeta+a")
        await page.keyboard.type("fast")
        await page.keyboard.press("Enter")

        error = page.locator("#upload-limit-error")
        await expect(error).to_contain_text("Not a rate: 'fast'")
        await expect(error).to_contain_text("0 for no limit")
        field = page.locator("#upload-limit")
        await expect(field).to_have_value("fast")
        await expect(field).to_have_attribute("aria-invalid", "true")
        assert "upload-limit-error" in (await field.get_attribute("aria-describedby") or "").split()
        # Next to the field: in the same form, right under the input.
        field_box, error_box = await field.bounding_box(), await error.bounding_box()
        assert field_box is not None and error_box is not None
        assert 0 <= error_box["y"] - (field_box["y"] + field_box["height"]) < 48, (field_box, error_box)
        await expect(page.locator("#upload-limit-now")).to_have_text("Uploads limited to 5 MB/s")
        assert limit_of(node) == 5_000_000

        await field.focus()
        await page.keyboard.press("Escape")  # Esc closes the disclosure and leaves focus on its summary
        assert not await page.locator("details.limit").evaluate("d => d.open")
        assert await summary.evaluate("s => s === document.activeElement")
    finally:
        node.ok("set_upload_limit 0")


async def test_the_limit_form_is_refused_without_a_valid_csrf_token(page: Page, context: BrowserContext,
                                                                    world: World) -> None:
    node = world.carol
    await ensure_logged_in(page, node)
    await page.goto(url(node, "/downloads"))
    origin = url(node, "").rstrip("/")
    target = url(node, "/downloads/upload-limit")
    missing = await context.request.post(target, form={"rate": "1k"}, headers={"Origin": origin}, max_redirects=0)
    assert missing.status == 403
    wrong = await context.request.post(target, form={"rate": "1k", "csrf_token": "x" * 43},
                                       headers={"Origin": origin}, max_redirects=0)
    assert wrong.status == 403
    assert limit_of(node) is None
    token = await page.get_attribute("details.limit input[name=csrf_token]", "value") or ""
    accepted = await context.request.post(target, form={"rate": "1k", "csrf_token": token},
                                          headers={"Origin": origin}, max_redirects=0)
    try:
        assert accepted.status == 303, "the same post with the page's token goes through"
        assert limit_of(node) == 1000
    finally:
        node.ok("set_upload_limit 0")


async def test_the_limit_line_and_its_notice_leave_the_first_download_row_high(browser: Browser,
                                                                               world: World) -> None:
    node = world.bob  # bob has a finished download, so the page has a row
    try:
        for viewport, top in ((DESKTOP, 250), (PHONE, 400)):
            ctx = await browser.new_context(viewport=viewport)
            try:
                page = await ctx.new_page()
                await ensure_logged_in(page, node)
                await page.goto(url(node, "/downloads"))
                await save_limit(page, "upload", "1G")
                toast = page.locator("#toast")
                await expect(toast.locator("span")).to_have_text("Uploads are now limited to 1 GB/s.")
                assert await toast.evaluate("t => getComputedStyle(t).position") == "fixed"
                await assert_fits(page, top, f"at {viewport['width']}px")
            finally:
                await ctx.close()
    finally:
        node.ok("set_upload_limit 0")


async def test_a_limit_changed_elsewhere_reaches_an_open_downloads_page(page: Page, world: World) -> None:
    """Set by /cmd (or another tab) while the page is open: the line and the form's value follow, no reload."""
    node = world.carol
    await ensure_logged_in(page, node)
    await page.goto(url(node, "/downloads"))
    now = page.locator("#upload-limit-now")
    await expect(now).to_have_text("Uploads: no limit")
    try:
        node.ok("set_upload_limit 3M")
        await expect(now).to_have_text("Uploads limited to 3 MB/s")
        await expect(page.locator("#upload-limit")).to_have_value("3 MB/s")
    finally:
        node.ok("set_upload_limit 0")
    await expect(now).to_have_text("Uploads: no limit")
    await expect(page.locator("#upload-limit")).to_have_value("")
