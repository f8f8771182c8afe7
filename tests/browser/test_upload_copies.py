"""Files uploaded in the browser: a name already shared with other content is shared as "name (1).ext"; the
page names the node's copy as an upload, not by its path in the data dir; the copy goes once no share uses it."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from playwright.async_api import Page, expect

from peer_node.upload_copies import delete_if_unused, is_upload_copy
from tests.browser.helpers import World, ensure_logged_in, on_page, url
from tests.support.cluster import make_file


def test_only_the_nodes_own_upload_copies_are_ever_deleted(tmp_path: Path) -> None:
    data = tmp_path / "data"
    copy = data / "uploads" / "0123abcd" / "notes.txt"
    copy.parent.mkdir(parents=True)
    copy.write_text("x", encoding="utf-8")
    users = tmp_path / "home" / "notes.txt"
    users.parent.mkdir()
    users.write_text("y", encoding="utf-8")
    assert is_upload_copy(str(copy), data) and not is_upload_copy(str(users), data)
    assert not is_upload_copy(str(data / "uploads" / "notes.txt"), data)  # not the <folder>/<name> shape
    assert not delete_if_unused(str(users), data, [])  # the user's own file: never
    assert not delete_if_unused(str(copy), data, [str(copy)]) and copy.exists()  # still shared
    assert delete_if_unused(str(copy), data, []) and not copy.parent.exists()


@pytest.mark.browser
async def test_an_upload_named_like_another_file_is_shared_beside_it_and_its_copy_goes_with_its_share(
        page: Page, world: World, tmp_path: Path) -> None:
    alice = world.alice
    ours = make_file(tmp_path / "notes.txt", 5_000, 77)  # not the notes.txt alice shares in team
    await ensure_logged_in(page, alice)
    await page.goto(url(alice, "/groups/team"))
    await page.set_input_files("#upload-file", str(ours))
    await page.get_by_role("button", name="Upload and share").click()
    await expect(page.locator("#toast")).to_contain_text(
        "Uploaded and sharing notes (1).txt with team. A different notes.txt is already shared in team, so this "
        "one is shared as notes (1).txt.")
    assert "notes (1).txt\t5000\t" in alice.ok("list_files team")
    row = page.locator("section[aria-labelledby=my-shares] li.row", has_text="notes (1).txt")
    await expect(row.locator("p.path")).to_have_text(
        "Uploaded in the browser: this node keeps the copy it shares, until you stop sharing it.")
    copies = list((alice.data_dir / "uploads").glob("*/notes (1).txt"))
    assert len(copies) == 1
    await row.get_by_role("button", name="Stop sharing notes (1).txt").click()
    await expect(on_page(page, "Stopped sharing notes (1).txt.")).to_be_visible()
    assert not await asyncio.to_thread(copies[0].exists)  # no copy left behind in the data dir
    # The same bytes uploaded twice under the taken name: the second joins the first, no "notes (2).txt"
    for _ in range(2):
        await page.set_input_files("#upload-file", str(ours))
        # wait for the page to load again with its notice (the notice of the round before says the same words)
        async with page.expect_navigation():
            await page.get_by_role("button", name="Upload and share").click()
        await expect(page.locator("#toast")).to_contain_text("shared as notes (1).txt.")
    listing = alice.ok("list_files team")
    assert "notes (1).txt\t5000\t" in listing and "notes (2).txt" not in listing
    row = page.locator("section[aria-labelledby=my-shares] li.row", has_text="notes (1).txt")
    await row.get_by_role("button", name="Stop sharing notes (1).txt").click()
    await expect(on_page(page, "Stopped sharing notes (1).txt.")).to_be_visible()
    assert "notes.txt" in alice.ok("list_files team")  # the other notes.txt is untouched


async def test_a_file_shared_by_its_path_under_a_taken_name_is_refused_with_the_ways_on(
        page: Page, world: World, tmp_path: Path) -> None:
    """Sharing a file by its path keeps its name (it is the user's own file): the refusal says how to go on, by
    renaming it or by uploading it, which shares it under a free name."""
    alice = world.alice
    ours = make_file(tmp_path / "notes.txt", 4_000, 78)  # not the notes.txt alice shares in team
    await ensure_logged_in(page, alice)
    await page.goto(url(alice, "/groups/team"))
    await page.fill("#share-path", str(ours))
    await page.click("button:has-text('Share this file')")
    await expect(page.locator("#share-error")).to_contain_text(
        "already has a different file named notes.txt. Rename your file (to notes (1).txt, say) and share it "
        "again, or send it with Upload and share below, which shares it as notes (1).txt.")
    await expect(page.locator("#share-path")).to_have_value(str(ours))  # what was typed is kept
    assert "notes (1).txt" not in alice.ok("list_files team")
