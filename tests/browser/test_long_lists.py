"""Pages that stay short as a node's lists grow: the home page sums shares up by group and shows the first of
many groups (those with requests to join first), a group page folds away a long list of this node's shares
(each is in the file list above it too), and the downloads page shows one state at a time and clears the
complete ones at once."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest
from playwright.async_api import Page, expect

from tests.browser.helpers import World, ensure_logged_in, ui_login, url
from tests.support.cluster import Cluster, lab_pair, make_file

pytestmark = pytest.mark.browser


async def test_many_shares_and_groups_are_summed_up_on_the_home_page_and_folded_on_the_group_page(
        page: Page, world: World) -> None:
    alice = world.alice
    groups = [f"shelf-{i:02d}" for i in range(1, 9)]  # with team and zeta: more than the home page lists
    for gid in groups:
        alice.ok(f"create_group {gid}")
    names = [f"part{i}.txt" for i in (1, 2, 3, 4, 5, 6, 7, 8, 10)]  # natural order: part10 last
    for name in names:
        alice.ok(f"upload_file {shlex.quote(str(make_file(world.files / 'shelf' / name, 1000, 9)))} shelf-01")
    try:
        await ensure_logged_in(page, alice)
        shares = page.locator("section[aria-labelledby=my-shares]")
        await expect(shares.locator("li.row", has_text="shelf-01")).to_contain_text("9 files · 9.0 kB")
        await expect(shares.get_by_text("part1.txt")).to_have_count(0)  # not one row per file
        mine = page.locator("section[aria-labelledby=my-groups] li.row")
        await expect(mine).to_have_count(8)
        await expect(page.get_by_role("link", name="See all 10 of your groups")).to_be_visible()

        await page.goto(url(alice, "/groups/shelf-01"))
        folded = page.locator("section[aria-labelledby=my-shares] details")
        await expect(folded.locator("summary")).to_contain_text("9 files, 9.0 kB")
        await expect(folded.get_by_role("button", name="Stop sharing part1.txt")).to_be_hidden()
        await folded.locator("summary").click()
        rows = folded.locator("li.row .name")
        await expect(rows).to_have_text(names)  # in natural order
    finally:
        for gid in groups:
            alice.ok(f"leave_group {gid}")


async def test_the_downloads_page_shows_one_state_at_a_time_and_clears_the_complete_ones(page: Page,
                                                                                         tmp_path: Path) -> None:
    dest = tmp_path / "dl"
    dest.mkdir()
    with Cluster(tmp_path / "c") as c:
        alice, bob = lab_pair(c, alice_args=("--piece-size", str(64 * 1024)))
        for name in ("a.bin", "b.bin", "slow.bin"):
            alice.ok(f"upload_file {shlex.quote(str(make_file(tmp_path / 'src' / name, 300_000, 4)))} lab")
        for name in ("a.bin", "b.bin"):
            bob.ok(f"download_file lab {name} {shlex.quote(str(dest))}")
            bob.wait_download(name)
        alice.ok("set_upload_limit 10k")
        bob.ok(f"download_file lab slow.bin {shlex.quote(str(dest))}")
        bob.ok("pause_download lab slow.bin")
        await ui_login(page, bob)
        await page.goto(url(bob, "/downloads?show=C"))
        views = page.get_by_role("navigation", name="Show downloads")
        await expect(views.get_by_role("link", name="Complete 2")).to_have_attribute("aria-current", "page")
        await expect(views.get_by_role("link", name="Paused 1")).to_be_visible()
        rows = page.locator("li.dl")
        await expect(rows.filter(has_text="slow.bin")).to_be_hidden()
        await expect(rows.filter(has_text="a.bin")).to_be_visible()
        await views.get_by_role("link", name="Paused 1").click()
        await expect(rows.filter(has_text="slow.bin")).to_be_visible()
        await expect(rows.filter(has_text="a.bin")).to_be_hidden()

        await page.get_by_role("button", name="Clear completed").click()
        await expect(page.locator("#toast")).to_contain_text("Cleared 2 complete downloads from the list. Their "
                                                             "files stay where they were saved.")
        await expect(rows).to_have_count(1)  # the paused one stays
        await expect(views.get_by_role("link", name="Complete 0")).to_be_visible()
        await expect(page.get_by_role("button", name="Clear completed")).to_be_hidden()
        assert (dest / "a.bin").exists() and (dest / "b.bin").exists()
        assert bob.ok("show_downloads").startswith("[D] lab slow.bin ")
