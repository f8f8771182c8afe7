"""Each download row has Cancel / Remove: a running download asks first, then stops and its partial data goes; a
complete one leaves the list at once and its file stays. The label follows the row's state live."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest
from playwright.async_api import Dialog, Page, expect

from tests.browser.helpers import on_page, ui_login, url
from tests.support.cluster import Cluster, Node, lab_pair, make_file, sha256_file, wait_until

pytestmark = pytest.mark.browser

WAITING = ("--piece-size", str(64 * 1024), "--download-stall", "120", "--tracker-timeout", "3")


def _lab(c: Cluster) -> tuple[Node, Node]:
    """alice and bob logged in, bob a member of alice's group lab; bob's downloads wait long for a seeder."""
    return lab_pair(c, bob_args=WAITING)


async def test_cancel_asks_first_then_removes_the_row_and_its_data_remove_keeps_a_complete_file(
        page: Page, tmp_path: Path) -> None:
    done_src = make_file(tmp_path / "src" / "done.bin", 1024 * 1024, 6)
    wait_src = make_file(tmp_path / "src" / "wait.bin", 1024 * 1024, 7)
    dest = tmp_path / "dl"
    dest.mkdir()
    with Cluster(tmp_path / "c") as c:
        alice, bob = _lab(c)
        alice.ok(f"upload_file {shlex.quote(str(done_src))} lab")
        bob.ok(f"download_file lab done.bin {shlex.quote(str(dest))}")
        bob.wait_download("done.bin")
        alice.ok(f"upload_file {shlex.quote(str(wait_src))} lab")
        alice.ok("logout")  # no seeder for wait.bin: bob's download of it stays running, waiting for peers
        bob.ok(f"download_file lab wait.bin {shlex.quote(str(dest))}")
        partial = dest / ".wait.bin.gspart"
        wait_until(partial.exists, 15, "the partial file of wait.bin")

        await ui_login(page, bob)
        await page.goto(url(bob, "/downloads"))
        running = page.locator("li.dl", has_text="wait.bin")
        complete = page.locator("li.dl", has_text="done.bin")
        cancel = running.get_by_role("button", name="Cancel wait.bin")
        remove = complete.get_by_role("button", name="Remove from list done.bin")
        await expect(cancel).to_be_visible()
        await expect(remove).to_be_visible()

        asked: list[str] = []

        async def say_no(dialog: Dialog) -> None:
            asked.append(dialog.message)
            await dialog.dismiss()

        page.once("dialog", say_no)
        await cancel.click()
        await expect(running).to_be_visible()  # said no: nothing happened
        assert asked == ["Cancel the download of wait.bin? What it has downloaded so far is deleted."]
        assert "[D] lab wait.bin" in bob.ok("show_downloads") and partial.exists()

        page.once("dialog", lambda dialog: dialog.accept())
        await cancel.click()
        await expect(on_page(page, "Cancelled the download of wait.bin")).to_be_visible()
        await expect(running).to_have_count(0)
        assert bob.ok("show_downloads") == "[C] lab done.bin\n"
        assert not partial.exists()

        await remove.click()  # a complete file: no question, nothing on disk is lost
        await expect(on_page(page, f"Removed done.bin from the list. The file stays at {dest / 'done.bin'}")
                     ).to_be_visible()
        await expect(complete).to_have_count(0)
        await expect(on_page(page, "No downloads yet")).to_be_visible()
        assert bob.ok("show_downloads") == ""
        assert sha256_file(dest / "done.bin") == sha256_file(done_src)


async def test_the_remove_label_follows_the_state_live(page: Page, tmp_path: Path) -> None:
    src = make_file(tmp_path / "src" / "data.bin", 1024 * 1024, 8)
    dest = tmp_path / "dl"
    dest.mkdir()
    with Cluster(tmp_path / "c") as c:
        alice, bob = _lab(c)
        alice.ok(f"upload_file {shlex.quote(str(src))} lab")
        alice.ok("logout")
        bob.ok(f"download_file lab data.bin {shlex.quote(str(dest))}")

        await ui_login(page, bob)  # the dashboard lists downloads too, with the same buttons
        row = page.locator("li.dl", has_text="data.bin")
        button = row.locator("[data-f=remove] button")
        await expect(button).to_have_accessible_name("Cancel data.bin")

        alice.ok(f"login alice {shlex.quote(alice.password)}")  # the seeder is back: the download completes
        await expect(row.locator("[data-f=state_text]")).to_have_text("Complete", timeout=60_000)
        await expect(button).to_have_accessible_name("Remove from list data.bin")
        await button.click()
        await expect(on_page(page, "Removed data.bin from the list.")).to_be_visible()
        assert page.url == url(bob, "/")  # back where the button was
        await expect(row).to_have_count(0)


async def test_a_failure_is_announced_and_removing_what_it_kept_asks_first(page: Page, tmp_path: Path) -> None:
    src = make_file(tmp_path / "src" / "slow.bin", 2 * 1024 * 1024, 9)
    dest = tmp_path / "dl"
    dest.mkdir()
    with Cluster(tmp_path / "c") as c:
        alice, bob = lab_pair(c, ("--piece-size", str(64 * 1024), "--upload-limit", "200k"),
                              ("--download-stall", "3", "--resume-check", "3600", "--tracker-timeout", "3"))
        alice.ok(f"upload_file {shlex.quote(str(src))} lab")
        await ui_login(page, bob)
        await page.goto(url(bob, "/downloads"))
        bob.ok(f"download_file lab slow.bin {shlex.quote(str(dest))}")
        row = page.locator("li.dl", has_text="slow.bin")
        await expect(row.locator("[data-f=state_text]")).to_have_text("Downloading")
        wait_until(lambda: bob.downloads()["slow.bin"]["bytes_done"] >= 2 * 64 * 1024, 30, "bob's first pieces")
        alice.kill()  # the only seeder goes away: the download fails, keeping its pieces
        announcer = page.locator("#announcer")
        await expect(announcer).to_contain_text("The download of slow.bin from lab stopped for now: No member who "
                                                "has it can be reached")
        await expect(announcer).to_contain_text("resumes by itself when a member who has it is back.")
        await expect(row.locator("[data-f=state_text]")).to_have_text("Waiting for members")
        await expect(announcer).to_have_attribute("aria-live", "polite")
        kept = bob.downloads()["slow.bin"]["bytes_done"]
        assert kept > 0
        partial = dest / ".slow.bin.gspart"
        assert partial.exists()

        asked: list[str] = []

        async def say_no(dialog: Dialog) -> None:
            asked.append(dialog.message)
            await dialog.dismiss()

        remove = row.get_by_role("button", name="Remove slow.bin")
        page.once("dialog", say_no)
        await remove.click()
        await expect(row).to_be_visible()
        assert len(asked) == 1 and asked[0].startswith("Remove the failed download of slow.bin? The ")
        assert asked[0].endswith(" it kept to resume from is deleted.") and partial.exists()
        page.once("dialog", lambda dialog: dialog.accept())
        await remove.click()
        await expect(row).to_have_count(0)
        assert not partial.exists() and bob.ok("show_downloads") == ""
