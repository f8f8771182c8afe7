"""A failed download offers Retry in the browser; it starts the download again to the same place and completes."""

from __future__ import annotations

import shlex
import signal
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, expect

from tests.browser.helpers import on_page, ui_login, url
from tests.support.cluster import FAST_NODE_ARGS, Cluster, lab_pair, make_file, sha256_file, wait_until

pytestmark = pytest.mark.browser
# A node whose only tracker goes away: each call gives up after 1 s of rounds, not the 6 s an election may need.
ALONE = (*FAST_NODE_ARGS, "--tracker-retry", "1")


async def test_a_failed_download_has_a_retry_button_that_completes_it(page: Page, tmp_path: Path) -> None:
    src = make_file(tmp_path / "src" / "data.bin", 2 * 1024 * 1024, 5)
    dest = tmp_path / "dl"
    dest.mkdir()
    with Cluster(tmp_path / "c") as c:
        alice, bob = lab_pair(c, bob_args=("--download-stall", "2", "--resume-check", "3600"))
        alice.ok(f"upload_file {shlex.quote(str(src))} lab")
        alice.ok("logout")  # no seeder: bob's download fails (and would resume by itself within the hour)
        bob.ok(f"download_file lab data.bin {shlex.quote(str(dest))}")
        bob.wait_download("data.bin", timeout=60, states=("F",))

        await ui_login(page, bob)
        await page.goto(url(bob, "/downloads"))
        row = page.locator("li.dl", has_text="data.bin")
        # failed for want of a seeder: a wait the node ends by itself, and Retry ends it now
        await expect(row.locator("[data-f=state_text]")).to_have_text("Waiting for members")
        assert "st-W" in (await row.locator("[data-f=state_text]").get_attribute("class") or "")
        retry = row.get_by_role("button", name="Retry data.bin")
        await expect(retry).to_be_visible()

        bob.ok("leave_group lab")  # a Retry now cannot start: said above the list, not on a bare error page
        await retry.click()
        error = page.locator("#page-error")
        await expect(error).to_contain_text("Could not retry data.bin. Only members of lab may do that. Join lab "
                                            "again to download it, or remove it.")  # it got nothing to resume from
        await expect(error).to_be_focused()
        await page.wait_for_function("location.pathname === '/downloads'")
        await expect(row.locator("[data-f=state_text]")).to_have_text("Waiting for members")  # nothing lost

        bob.ok("join_group lab")
        alice.ok(f"login alice {shlex.quote(alice.password)}")  # the seeder is back
        alice.ok("accept_request lab bob")
        wait_until(lambda: "data.bin\t" in bob.ok("list_files lab"), 30, "alice's copy to be live again")
        await retry.click()
        await expect(on_page(page, "Retrying data.bin.")).to_be_visible()
        await expect(row.locator("[data-f=state_text]")).to_have_text("Complete", timeout=60_000)
        await expect(retry).to_be_hidden()  # the live update hides it once the row is no longer failed
        assert sha256_file(dest / "data.bin") == sha256_file(src)


async def test_a_group_page_with_the_tracker_away_still_shows_what_this_node_holds(page: Page,
                                                                                  tmp_path: Path) -> None:
    src = make_file(tmp_path / "src" / "notes.bin", 300_000, 6)
    with Cluster(tmp_path / "c") as c:
        tracker = c.start_tracker(1)
        alice = c.start_node("alice", ALONE)
        alice.login()
        alice.ok("create_group lab")
        alice.ok(f"upload_file {shlex.quote(str(src))} lab")
        await ui_login(page, alice)
        await page.goto(url(alice, "/groups/lab"))
        tracker.stop()  # the only tracker goes away while the page is open
        await page.locator("details.folder summary").click()
        await page.fill("#folder", str(tmp_path / "no such folder"))
        await page.get_by_role("button", name="Use this folder").click()  # refused, and no group page to say it on
        await expect(page.get_by_role("alert")).to_contain_text("Not done: The folder")
        await expect(on_page(page, "No tracker answers right now")).to_be_visible()  # not a dead end
        await expect(page).to_have_title("Error: lab: tracker offline · GroupShare")  # the first words read
        assert page.url == url(alice, "/groups/lab")  # a reload loads the page, not the form again
        response = await page.goto(url(alice, "/groups/lab"))
        assert response is not None and response.status == 503
        await expect(page.locator("h1")).to_have_text("lab")
        await expect(page).to_have_title("lab: tracker offline · GroupShare")
        await expect(on_page(page, "No tracker answers right now")).to_be_visible()
        await expect(page.locator("section[aria-labelledby=my-shares] li.row")).to_contain_text("notes.bin")
        await expect(on_page(page, "This node has no download from lab.")).to_be_visible()
        # A share can be ended while the tracker is away (one made by mistake must not wait for it)
        await page.get_by_role("button", name="Stop sharing notes.bin").click()
        await expect(page.locator("#toast")).to_contain_text("Stopped sharing notes.bin. No tracker answers")
        await expect(on_page(page, "This node shares nothing in lab.")).to_be_visible()
        assert alice.api("/api/status")["shares"] == []


async def test_a_file_whose_holders_are_all_offline_stays_listed_as_offline(page: Page, tmp_path: Path) -> None:
    with Cluster(tmp_path / "c") as c:
        alice, bob = lab_pair(c)
        for name in ("slides.pdf", "video.bin"):
            alice.ok(f"upload_file {shlex.quote(str(make_file(tmp_path / 'src' / name, 50_000, 3)))} lab")
        await ui_login(page, bob)
        await page.goto(url(bob, "/groups/lab"))
        await expect(page.get_by_role("button", name="Download video.bin")).to_be_visible()
        alice.ok("logout")  # her node stops serving: no live copy is left
        wait_until(lambda: bob.ok("list_files lab") == "", 30, "the tracker to see alice's node gone")
        await page.goto(url(bob, "/groups/lab"))
        rows = page.locator("section[aria-labelledby=files] li.row")
        await expect(rows).to_have_count(2)  # still there, not silently gone
        for name in ("slides.pdf", "video.bin"):
            row = rows.filter(has_text=name)
            await expect(row).to_contain_text("Offline: no node that holds it is online now")
            await expect(row.get_by_role("button")).to_have_count(0)  # no Download that could only fail


async def test_the_groups_page_with_the_tracker_away_says_so_in_place_of_the_list(page: Page, tmp_path: Path) -> None:
    with Cluster(tmp_path / "c") as c:
        tracker = c.start_tracker(1)
        alice = c.start_node("alice", ALONE)
        alice.login()
        alice.ok("create_group lab")
        await ui_login(page, alice)
        tracker.stop()
        response = await page.goto(url(alice, "/groups"))
        assert response is not None and response.status == 503
        await expect(page.locator("h1")).to_have_text("Groups")
        await expect(on_page(page, "No tracker answers right now, so the groups cannot be listed")).to_be_visible()
        await page.fill("#group_id", "later")  # the error says what to do; each tracker's failure is in Details
        await page.click("button:has-text('Create group')")
        await expect(page.locator("p.error")).to_contain_text("No tracker could answer right now. Try again in a "
                                                              "moment.")
        details = page.locator("details.detail", has_text="Details")
        await expect(details.locator("p")).to_be_hidden()
        await details.locator("summary").click()
        await expect(details.locator("p")).to_have_text(f"127.0.0.1:{c.tracker_ports[0]}: connection refused")


async def test_a_user_logs_in_to_their_own_node_while_no_tracker_answers(browser: Browser, tmp_path: Path) -> None:
    with Cluster(tmp_path / "c") as c:
        tracker = c.start_tracker(1)
        alice = c.start_node("alice", ALONE)
        alice.login()  # the node acts for alice, and keeps a check of her password
        tracker.stop()
        for password, lands in (("wrong-password-1", "/login"), (alice.password, "/")):
            ctx = await browser.new_context()  # a new browser: no cookie
            try:
                page = await ctx.new_page()
                await page.goto(url(alice, "/login"))
                await page.fill("#user_id", "alice")
                await page.fill("#password", password)
                await page.click("form button[type=submit]:has-text('Log in')")
                if lands == "/":
                    await page.wait_for_url(url(alice, "/"), timeout=30_000)
                    await expect(page.locator("h1")).to_have_text("Hello, alice")
                else:
                    await expect(page.locator("#form-error")).to_contain_text("do not match", timeout=30_000)
            finally:
                await ctx.close()


async def test_an_open_page_says_when_its_node_stops_answering_and_recovers_when_it_is_back(page: Page,
                                                                                       tmp_path: Path) -> None:
    with Cluster(tmp_path / "c") as c:
        c.start_tracker(1)
        alice = c.start_node("alice")
        alice.login()
        await ui_login(page, alice)
        await page.goto(url(alice, "/groups"))  # any live page, not only the downloads list
        await page.evaluate("window.__sameDocument = true")
        alice.kill(signal.SIGTERM)
        toast = page.locator("#toast")
        await expect(toast).to_contain_text("This node is not answering", timeout=30_000)
        alice.start()  # the same ports and data: the page's stream reconnects, still logged in
        await expect(toast).to_have_count(0, timeout=30_000)
        assert await page.evaluate("window.__sameDocument === true")
        await expect(page.locator("#announcer")).to_have_text("The node answers again.")
