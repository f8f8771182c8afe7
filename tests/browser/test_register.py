"""The register page: every mistake said at once, in words (a tracker refusing more sign-ups from this address
too), and a node that acts for another user said before the form is filled."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, expect

from tests.browser.helpers import World, url
from tests.support.cluster import FAST_TRACKER_ARGS, Cluster

pytestmark = pytest.mark.browser


async def register(page: Page, base: str, user: str) -> int:
    await page.goto(f"{base}/register")
    await page.fill("#user_id", user)
    await page.fill("#password", f"{user}-secret-1")
    await page.fill("#password2", f"{user}-secret-1")
    async with page.expect_response(lambda r: r.url.endswith("/register") and r.request.method == "POST") as info:
        await page.click("form button[type=submit]:has-text('Create account')")
    return (await info.value).status


async def test_too_many_sign_ups_from_one_address_is_said_in_a_sentence(page: Page, tmp_path: Path) -> None:
    # One sign-up a minute past the first: a wait past what the node waits out itself (20 s), so it is told
    args = (*FAST_TRACKER_ARGS, "--signup-burst", "1", "--signup-interval", "60")
    with Cluster(tmp_path / "c", tracker_args=args) as c:
        c.start_tracker(1)
        node = c.start_node("n1")
        base = url(node, "")
        assert await register(page, base, "first") in (200, 303)
        assert await register(page, base, "second") == 429
        await expect(page.locator("#form-error")).to_contain_text("Too many sign-ups from your address; try again in")
        await expect(page.locator("#user_id")).to_have_value("second")  # nothing typed is lost


async def test_a_browser_sign_up_wants_a_password_of_8_characters_and_says_so(page: Page, tmp_path: Path) -> None:
    with Cluster(tmp_path / "c") as c:
        c.start_tracker(1)
        node = c.start_node("n1")
        await page.goto(url(node, "/register"))
        await expect(page.locator("#password-hint")).to_have_text("At least 8 characters.")
        await page.fill("#user_id", "dana")
        await page.fill("#password", "pw")
        await page.fill("#password2", "pq")
        await page.click("form button[type=submit]:has-text('Create account')")
        await expect(page.locator("#password-error")).to_contain_text("Use at least 8 characters.")
        await expect(page.locator("#password2-error")).to_contain_text("The two passwords differ.")  # at once
        await expect(page.locator("#user_id")).to_have_value("dana")
        assert await page.get_attribute("#password", "aria-invalid") == "true"
        st, _ = node.cmd("login dana pw")
        assert st >= 400  # no account was made
        # the id rule, in the same words as the node's own check, its one exception included
        await expect(page.locator("#user-hint")).to_have_text(
            "1-64 characters: letters, digits, '.', '_' or '-' (but not . or .. alone).")
        await page.fill("#user_id", "..")
        await page.fill("#password", "long-enough-1")
        await page.fill("#password2", "long-enough-1")
        await page.click("form button[type=submit]:has-text('Create account')")
        await expect(page.locator("#user-error")).to_contain_text("Use 1-64 characters: letters, digits, '.', '_' "
                                                                  "or '-' (but not . or .. alone).")


async def test_signing_up_on_a_node_that_acts_for_another_user_says_so_before_and_after(browser: Browser,
                                                                                        world: World) -> None:
    ctx = await browser.new_context()  # someone else's browser at alice's node
    try:
        page = await ctx.new_page()
        await page.goto(url(world.alice, "/register"))
        await expect(page.locator("#in-use")).to_contain_text("This node acts for alice now, and a node acts for "
                                                              "one user at a time")
        await page.fill("#user_id", "visitor")
        await page.fill("#password", "visitor-secret-1")
        await page.fill("#password2", "visitor-secret-1")
        await page.click("form button[type=submit]:has-text('Create account')")
        await expect(page.locator("h1")).to_have_text("Log in")
        await expect(page.locator("#toast")).to_contain_text("Account visitor created. This node acts for alice "
                                                             "now: log in as visitor on your own node, or here once "
                                                             "alice logs out.")
    finally:
        await ctx.close()
