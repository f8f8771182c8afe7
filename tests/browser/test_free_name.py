"""A browser download whose name is taken in the folder is saved as "name (1).ext", as browsers do."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from playwright.async_api import Page, expect

from peer_node.web_ui.free_name import MAX_NAME_BYTES, first_free, numbered
from tests.browser.helpers import ui_login, url
from tests.support.cluster import Cluster, lab_pair, make_file, sha256_file


def test_the_number_goes_before_the_extension() -> None:
    assert numbered("résumé 2024.pdf", 1) == "résumé 2024 (1).pdf"
    assert numbered("archive.tar.gz", 2) == "archive.tar (2).gz"
    assert numbered(".env", 1) == ".env (1)" and numbered("README", 3) == "README (3)"
    assert numbered("a." + "x" * 60, 1) == "a." + "x" * 60 + " (1)"  # no extension that long


def test_the_first_free_name_is_taken_and_a_full_folder_gives_up() -> None:
    taken = {"n.txt", "n (1).txt", "n (2).txt"}
    assert first_free("m.txt", taken.__contains__) == "m.txt"
    assert first_free("n.txt", taken.__contains__) == "n (3).txt"
    assert first_free("n.txt", lambda _: True) is None


@given(st.text(st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="/\\\x00"),
               min_size=1, max_size=255), st.integers(1, 1000))
def test_a_numbered_name_stays_a_valid_name(name: str, n: int) -> None:
    name = name.encode("utf-8")[:MAX_NAME_BYTES].decode("utf-8", "ignore") or "x"
    out = numbered(name, n)
    assert len(out.encode("utf-8")) <= MAX_NAME_BYTES and f" ({n})" in out and "/" not in out


@pytest.mark.browser
async def test_a_taken_name_in_the_folder_downloads_as_a_numbered_copy(page: Page, tmp_path: Path) -> None:
    src = make_file(tmp_path / "src" / "notes.txt", 300_000, 3)
    folder = tmp_path / "dl"
    folder.mkdir()
    (folder / "notes.txt").write_text("the user's own notes, not to be touched\n", encoding="utf-8")
    with Cluster(tmp_path / "c") as c:
        alice, bob = lab_pair(c)
        alice.ok(f"upload_file {shlex.quote(str(src))} lab")
        await ui_login(page, bob)
        await page.goto(url(bob, "/groups/lab"))
        await page.locator("details.folder > summary").click()
        await page.fill("#folder", str(folder))
        await page.click("button:has-text('Use this folder')")
        await page.get_by_role("button", name="Download notes.txt").click()
        await expect(page.locator("#toast")).to_contain_text(
            f"Downloading notes.txt as notes (1).txt (notes.txt is already in {folder})")
        bob.wait_download("notes.txt")
        assert sha256_file(folder / "notes (1).txt") == sha256_file(src)
        assert (folder / "notes.txt").read_text("utf-8") == "the user's own notes, not to be touched\n"
        bob.ok("remove_download lab notes.txt")
        status, text = bob.cmd(f"download_file lab notes.txt {shlex.quote(str(folder))}")
        assert status == 409 and "already exists" in text  # a script still gets the contract's refusal
