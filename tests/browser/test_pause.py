"""Pause and Resume on a download's row: the row says Paused and offers Resume (and Cancel), and Resume goes on
from the kept pieces to the complete, verified file, the row following it live."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest
from playwright.async_api import Page, expect

from tests.browser.helpers import ui_login, url
from tests.support.cluster import Cluster, lab_pair, make_file, sha256_file

pytestmark = pytest.mark.browser


async def test_a_download_paused_on_its_row_resumes_from_its_pieces_to_the_right_file(page: Page,
                                                                                      tmp_path: Path) -> None:
    src = make_file(tmp_path / "src" / "data.bin", 2 * 1024 * 1024, 8)
    dest = tmp_path / "dl"
    dest.mkdir()
    with Cluster(tmp_path / "c") as c:
        alice, bob = lab_pair(c, alice_args=("--piece-size", str(64 * 1024), "--upload-limit", "100k"))
        alice.ok(f"upload_file {shlex.quote(str(src))} lab")
        bob.ok(f"download_file lab data.bin {shlex.quote(str(dest))}")
        await ui_login(page, bob)
        await page.goto(url(bob, "/downloads"))
        row = page.locator("li.dl", has_text="data.bin")
        pause = row.get_by_role("button", name="Pause data.bin")
        resume = row.get_by_role("button", name="Resume data.bin")
        await expect(row.locator("[data-f=state_text]")).to_have_text("Downloading")
        await expect(resume).to_be_hidden()
        await pause.click()
        await expect(page.locator("#toast")).to_contain_text("Its verified pieces are kept: Resume goes on from them.")
        key = await row.get_attribute("data-key")
        assert page.url.endswith(f"/downloads#{key}")  # back at this row, not at the top of a long list
        await expect(row.locator("[data-f=state_text]")).to_have_text("Paused")
        await expect(row.locator("[data-f=detail_text]")).to_have_text(
            "Paused. The verified pieces are kept: Resume goes on from them.")
        await expect(pause).to_be_hidden()
        await expect(row.get_by_role("button", name="Cancel data.bin")).to_be_visible()
        assert bob.downloads()["data.bin"]["state"] == "P"
        # The group page offers its resume, not a Download that would start it afresh elsewhere
        await page.goto(url(bob, "/groups/lab"))
        file_row = page.locator("li.row", has_text="data.bin")
        await expect(file_row.get_by_role("button", name="Download data.bin")).to_have_count(0)
        await file_row.get_by_role("link", name="Paused — resume it (data.bin)").click()
        assert page.url == url(bob, "/downloads?show=P")
        elsewhere = shlex.quote(str(tmp_path / "elsewhere.bin"))
        assert bob.cmd(f"download_file lab data.bin {elsewhere}")[0] == 409  # a script cannot restart it either
        assert bob.downloads()["data.bin"]["state"] == "P"

        alice.ok("set_upload_limit 0")
        await resume.click()
        await expect(page.locator("#toast")).to_contain_text("Resuming data.bin. The pieces already verified are kept.")
        await expect(row.locator("[data-f=state_text]")).to_have_text("Complete", timeout=60_000)
        await expect(resume).to_be_hidden()
        assert sha256_file(dest / "data.bin") == sha256_file(src)
