"""Pages that stay short as a node's lists grow: the home page sums shares up by group and shows the first of
many groups (those with requests to join first), a group page folds away a long list of this node's shares
(each is in the file list above it too), and the downloads page shows one state at a time and clears the
complete ones at once, and a group of hundreds of files shows them in pages with its search on the node."""

from __future__ import annotations

import json
import shlex
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Page, expect

from tests.browser.helpers import World, ensure_logged_in, on_page, ui_login, url
from tests.support.cluster import Cluster, http_request, lab_pair, make_file

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
        for name, size in (("a.bin", 300_000), ("b.bin", 300_000), ("slow.bin", 3_000_000)):  # slow: 300 s at 10k
            alice.ok(f"upload_file {shlex.quote(str(make_file(tmp_path / 'src' / name, size, 4)))} lab")
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
        await expect(rows.filter(has_text="a.bin")).to_be_visible()
        await expect(rows).to_have_count(2)  # the other views' rows are not even sent
        await views.get_by_role("link", name="Paused 1").click()
        await expect(rows.filter(has_text="slow.bin")).to_be_visible()
        await expect(rows).to_have_count(1)
        # Resumed elsewhere (/cmd): it leaves this view live, and the view says it is empty now ...
        bob.ok("resume_download lab slow.bin")
        await expect(rows).to_have_count(0)
        await expect(on_page(page, "No download is paused.")).to_be_visible()
        await expect(views.get_by_role("link", name="Running 1")).to_be_visible()
        # ... and paused again, it comes back whole, piece map and all
        bob.ok("pause_download lab slow.bin")
        await expect(rows.filter(has_text="slow.bin")).to_be_visible()
        await expect(rows.locator('[data-f="cells"] rect')).not_to_have_count(0)
        await expect(on_page(page, "No download is paused.")).to_be_hidden()

        await page.get_by_role("button", name="Clear completed").click()
        await expect(page.locator("#toast")).to_contain_text("Cleared 2 complete downloads from the list. Their "
                                                             "files stay where they were saved.")
        await expect(rows).to_have_count(1)  # the paused one stays
        await expect(views.get_by_role("link", name="Complete 0")).to_be_visible()
        await expect(page.get_by_role("button", name="Clear completed")).to_be_hidden()
        assert (dest / "a.bin").exists() and (dest / "b.bin").exists()
        assert bob.ok("show_downloads").startswith("[D] lab slow.bin ")


def _ask_to_join(c: Cluster, gid: str, users: list[str]) -> None:
    """Members-to-be asking to join straight at the tracker's API, as their own nodes would."""
    port = c.tracker_ports[0]

    def post(path: str, body: dict[str, str], token: str | None = None) -> dict[str, Any]:
        headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {token}"} if token else {})}
        status, raw = http_request(port, "POST", path, json.dumps({**body, "op_id": uuid.uuid4().hex}).encode(),
                                   headers)
        assert status in (200, 201, 202), (path, status, raw)
        return dict(json.loads(raw))

    for user in users:
        post("/api/v1/users", {"user_id": user, "password": f"{user}-pw-8421"})
        token = post("/api/v1/sessions", {"user_id": user, "password": f"{user}-pw-8421",
                                          "peer_addr": "127.0.0.1:9"})["session"]
        post(f"/api/v1/groups/{gid}/join", {}, token)


async def test_a_group_of_hundreds_of_files_comes_in_pages_searched_on_the_node(page: Page, world: World) -> None:
    """Past 100 files the group page shows them 100 at a time (thousands on one page froze the browser for seconds),
    its search runs on the node over all of them, the page's sections are a click away, and many requests to join
    are folded."""
    alice = world.alice
    alice.ok("create_group archive")
    folder = world.files / "archive"
    names = [f"file-{i}.txt" for i in range(1, 231)]  # natural order: file-2 after file-1, file-10 after file-9
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for name in names:
            (folder / name).write_text(name, encoding="utf-8")
        # Eight at a time (each is a replicated write; one after another they took most of this test's time): the
        # listing's order is the node's natural sort, whatever order they were shared in.
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda name: alice.ok(f"upload_file {shlex.quote(str(folder / name))} archive"), names))
        _ask_to_join(world.cluster, "archive", [f"student{i}" for i in range(1, 10)])
        await ensure_logged_in(page, alice)
        await page.goto(url(alice, "/groups/archive"))
        rows = page.locator("section[aria-labelledby=files] ul.rows li.row")
        await expect(rows).to_have_count(100)
        await expect(rows.first).to_contain_text("file-1.txt")
        pager = page.get_by_role("navigation", name="Pages of files")
        await expect(pager).to_contain_text("1–100 of 230 files · page 1 of 3")
        await expect(pager.get_by_role("link", name="Previous page of files")).to_have_count(0)
        await pager.get_by_role("link", name="Next page of files").click()
        await expect(pager).to_contain_text("101–200 of 230 files · page 2 of 3")
        await expect(rows.first).to_contain_text("file-101.txt")
        await pager.get_by_role("link", name="Next page of files").click()
        await expect(rows).to_have_count(30)
        await expect(rows.last).to_contain_text("file-230.txt")

        await page.fill("#q", "file-22")  # not filtered as typed (page 3 alone holds only some): Enter asks the node
        await page.press("#q", "Enter")
        await expect(rows).to_have_count(11)  # file-22 and file-220 to file-229, from pages 1 and 3
        await expect(page.locator("#filter-count")).to_have_text("11 of 230 files match “file-22”.")
        await expect(pager).to_have_count(0)  # one page of them
        await page.goto(url(alice, "/groups/archive?q=file-1&page=2"))  # file-1, file-10..19, file-100..199: 111
        await expect(pager).to_contain_text("101–111 of 111 matching files · page 2 of 2")
        await pager.get_by_role("link", name="Previous page of files").click()
        await expect(page).to_have_url(url(alice, "/groups/archive?q=file-1&page=1#files"))
        await page.goto(url(alice, "/groups/archive?page=x9"))  # a page that is no page number: the first
        await expect(rows.first).to_contain_text("file-1.txt")

        jump = page.get_by_role("navigation", name="On this page")
        await jump.get_by_role("link", name="Members").click()
        await expect(page).to_have_url(url(alice, "/groups/archive?page=x9#members"))
        asking = page.locator("section[aria-labelledby=requests] details")
        await expect(asking.locator("summary")).to_contain_text("9 people ask to join")
        await expect(asking.get_by_role("button", name="Accept student1")).to_be_hidden()
        await asking.locator("summary").click()
        await expect(asking.get_by_role("button", name="Accept student1")).to_be_visible()
        await expect(page.get_by_role("button", name="Accept all 9")).to_be_visible()
    finally:
        alice.ok("leave_group archive")
