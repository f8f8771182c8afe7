"""The issue's end-to-end story in two browsers against real trackers and nodes (2 trackers, 2 nodes).

dana registers on node 1, logs in and creates a group; erin registers on node 2 and asks to join; dana accepts
and shares a file by uploading it from the browser; erin opens the group page by its URL and downloads; a
second tab on /downloads, never reloaded, shows the row reach 100%; the node's copy and the copy saved
through the browser both have the original SHA-256.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, expect

from tests.browser.helpers import DESKTOP, on_page, open_until, url
from tests.support.cluster import Cluster, Node, make_file, sha256_file

pytestmark = pytest.mark.browser


async def register_and_login(page: Page, node: Node, user: str, password: str) -> None:
    await page.goto(url(node, "/register"))
    await page.fill("#user_id", user)
    await page.fill("#password", password)
    await page.fill("#password2", password)
    await page.click("form button[type=submit]:has-text('Create account')")
    # a node no one is logged in to starts acting for the new account at once: no second form to fill in
    await expect(page.locator("h1")).to_have_text(f"Hello, {user}")
    await expect(page.locator("#toast")).to_contain_text(f"Account {user} created. You are logged in.")


async def test_story_register_join_share_and_download_live(browser: Browser, tmp_path: Path, shots: Path) -> None:
    original = make_file(tmp_path / "src" / "holiday photos.bin", 4 * 1024 * 1024, 7)
    with Cluster(tmp_path / "c", trackers=2) as c:
        c.start_tracker(1)
        c.start_tracker(2)
        n1, n2 = c.start_node("n1"), c.start_node("n2")
        ctx1 = await browser.new_context(viewport=DESKTOP, accept_downloads=True)
        ctx2 = await browser.new_context(viewport=DESKTOP, accept_downloads=True)
        try:
            dana, erin = await ctx1.new_page(), await ctx2.new_page()
            await register_and_login(dana, n1, "dana", "dana-secret-1")
            await dana.goto(url(n1, "/groups"))
            await dana.fill("#group_id", "garden")
            await dana.click("button:has-text('Create group')")
            await expect(dana.locator("h1")).to_have_text("garden")

            await register_and_login(erin, n2, "erin", "erin-secret-1")
            await erin.goto(url(n2, "/groups"))
            row = erin.locator("li.row", has_text="garden")
            await row.get_by_role("button", name="Ask to join garden").click()
            await expect(erin.locator("li.row", has_text="garden").locator(".badge.pending")).to_be_visible()
            await erin.goto(url(n2, "/groups/garden"))
            await expect(on_page(erin, "You are not a member of this group")).to_be_visible()

            await dana.goto(url(n1, "/"))  # the owner learns of the request on the dashboard, one click from it
            await dana.get_by_role("link", name="1 asking to join garden").click()
            await expect(dana.get_by_role("heading", name="Asking to join")).to_be_visible()
            await dana.get_by_role("button", name="Accept erin").click()
            await expect(on_page(dana, "erin is now a member.")).to_be_visible()
            await dana.set_input_files("#upload-file", str(original))
            await dana.click("button:has-text('Upload and share')")
            await expect(on_page(dana, "Uploaded and sharing holiday photos.bin")).to_be_visible()
            await dana.screenshot(path=str(shots / "story-owner-group.png"), full_page=True)

            live = await ctx2.new_page()  # erin's second tab: opened before the download, never reloaded
            await live.goto(url(n2, "/downloads"))
            await expect(live.locator("[data-empty]")).to_be_visible()
            await live.evaluate("window.__sameDocument = true")

            await open_until(erin, url(n2, "/groups/garden"), "li.row:has-text('holiday photos.bin')")
            await erin.get_by_role("button", name="Download holiday photos.bin").click()
            await expect(erin.locator("h1")).to_have_text("Downloads")

            row = live.locator("li.dl", has_text="holiday photos.bin")
            await expect(row.locator("[data-f=state_text]")).to_have_text("Complete", timeout=60_000)
            await expect(row.locator("[data-f=progress_text]")).to_contain_text("(100%)")
            # finished, its map still shows who gave the pieces (dana's colour), not the plain "done" grey
            await expect(row.locator("svg.pmap rect.pm-done")).to_have_count(0)
            assert await row.locator("svg.pmap rect[class^='peer-']").count() > 0
            assert await live.evaluate("window.__sameDocument === true"), "the downloads page was reloaded"
            await live.screenshot(path=str(shots / "story-member-downloads.png"), full_page=True)

            assert sha256_file(n2.data_dir / "downloads" / "holiday photos.bin") == sha256_file(original)
            async with live.expect_download() as info:
                await row.get_by_role("link", name="Save to this computer").click()
            saved = tmp_path / "saved.bin"
            await (await info.value).save_as(saved)
            assert sha256_file(saved) == sha256_file(original)

            # The dashboard says which tracker serves us, and that we failed over when the first one died.
            await dana.goto(url(n1, "/"))
            section = dana.locator("section[aria-labelledby=tracker]")
            await expect(section).to_contain_text("the first in the list")
            await dana.evaluate("window.__sameDocument = true")
            c.trackers[1].stop()
            # the dashboard, never reloaded, follows too: its tracker section and its footer agree
            await expect(section).to_contain_text("Failed over: using tracker 2", timeout=30_000)
            assert await section.locator(".dot.warn").count() == 1
            assert await dana.evaluate("window.__sameDocument === true")
            # erin's downloads tab, never reloaded, follows her node to the second tracker in its footer
            await expect(live.locator("#foot-tracker")).to_contain_text("(failed over)", timeout=30_000)
            assert await live.evaluate("window.__sameDocument === true")
            await dana.screenshot(path=str(shots / "story-owner-dashboard-failed-over.png"), full_page=True)
        finally:
            await ctx1.close()
            await ctx2.close()
