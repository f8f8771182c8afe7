"""A browser form the tracker paces: the node waits out the tracker's "slow down" and sends the request again by
itself (``peer_node/tracker_patience.py``, up to 20 s); the page says so under the form meanwhile, instead of
sitting silent, and the form's answer comes as usual."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest
from playwright.async_api import Page, expect

from tests.browser.helpers import on_page, ui_login, url
from tests.support.cluster import FAST_TRACKER_ARGS, Cluster

pytestmark = pytest.mark.browser


# One write from this address or user, then one every 4 s: the second is paced (a wait the node takes on itself: at
# most 4 s and its jitter, inside its 20 s; the page asks each second, so it sees the wait three times or so).
PACED = (*FAST_TRACKER_ARGS, "--write-burst", "1", "--write-interval", "4")
WORDS = r"The tracker asked this node to wait: your request is sent again by itself in \d+ s\."


async def watched(page: Page) -> tuple[list[tuple[str, bool]], asyncio.Event]:
    """What the page shows under a form as it changes, reported by the page itself: while a form is being sent,
    Playwright waits for the navigation before it looks at the page."""
    shown: list[tuple[str, bool]] = []
    seen = asyncio.Event()

    def report(text: str, visible: bool) -> None:
        shown.append((text, visible))
        seen.set()

    await page.expose_function("reportPacing", report)
    await page.add_init_script("""new MutationObserver(function () {
        var line = document.querySelector("form p.pacing");
        if (line) window.reportPacing(line.textContent, line.checkVisibility());
      }).observe(document, { subtree: true, childList: true, characterData: true });""")
    return shown, seen


async def test_a_login_the_tracker_paces_says_it_is_sent_again_until_it_goes_through(page: Page,
                                                                                     tmp_path: Path) -> None:
    with Cluster(tmp_path / "c", tracker_args=PACED) as c:
        c.start_tracker(1)
        node = c.start_node("alice")
        shown, seen = await watched(page)
        await page.goto(url(node, "/login"))
        await page.fill("#user_id", "alice")
        await page.fill("#password", node.password)
        node.login()  # /cmd: create_user, then the address's one login
        node.ok("logout")  # the browser's login is a login again
        # Sent by script: Playwright's click would wait for the answer, and the words are there only until it comes.
        await page.evaluate("document.getElementById('password').form.requestSubmit()")
        await asyncio.wait_for(seen.wait(), 30)
        text, visible = shown[0]
        assert re.fullmatch(WORDS, text), text
        assert visible
        await page.wait_for_url(url(node, "/"), timeout=30_000)  # and the login goes through
        await expect(on_page(page, "Logged in as alice.")).to_be_visible()
        await expect(page.locator("p.pacing")).to_have_count(0)


async def test_an_upload_whose_share_the_tracker_paces_says_so_too(page: Page, tmp_path: Path) -> None:
    # upload.js sends the form by script (its progress), which the page's watch of sent forms used to skip
    with Cluster(tmp_path / "c", tracker_args=PACED) as c:
        c.start_tracker(1)
        node = c.start_node("alice")
        shown, seen = await watched(page)
        node.ok(f"create_user alice {node.password}")
        await ui_login(page, node)
        node.ok("create_group lab")  # the user's one write: the upload's share comes right after, paced
        src = tmp_path / "notes.txt"
        src.write_text("notes\n", encoding="utf-8")
        await page.goto(url(node, "/groups/lab"))
        await page.set_input_files("#upload-file", str(src))
        await page.evaluate("document.querySelector('form[data-upload]').requestSubmit()")
        await asyncio.wait_for(seen.wait(), 30)
        text, visible = shown[0]
        assert re.fullmatch(WORDS, text), text
        assert visible
        await expect(on_page(page, "Uploaded and sharing notes.txt with lab.")).to_be_visible(timeout=30_000)
