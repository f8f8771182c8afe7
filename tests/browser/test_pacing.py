"""A browser form the tracker paces: the node waits out the tracker's "slow down" and sends the request again by
itself (``peer_node/tracker_patience.py``, up to 20 s); the page says so under the form meanwhile, instead of
sitting silent, and the form's answer comes as usual."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest
from playwright.async_api import Page, expect

from tests.browser.helpers import on_page, url
from tests.support.cluster import FAST_TRACKER_ARGS, Cluster

pytestmark = pytest.mark.browser


async def test_a_login_the_tracker_paces_says_it_is_sent_again_until_it_goes_through(page: Page,
                                                                                     tmp_path: Path) -> None:
    # One login from this address, then one every 8 s: the browser's login right after the script's is paced (a
    # wait the node takes on itself: at most 8 s and its jitter, inside its 20 s).
    args = (*FAST_TRACKER_ARGS, "--write-burst", "1", "--write-interval", "8")
    with Cluster(tmp_path / "c", tracker_args=args) as c:
        c.start_tracker(1)
        node = c.start_node("alice")
        # While a form is being sent Playwright waits for the navigation before it looks at the page: the page
        # reports what it shows under the form itself, as it changes.
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
        await page.goto(url(node, "/login"))
        await page.fill("#user_id", "alice")
        await page.fill("#password", node.password)
        node.login()  # /cmd: create_user, then the address's one login
        node.ok("logout")  # the browser's login is a login again
        # Sent by script: Playwright's click would wait for the answer, and the words are there only until it comes.
        await page.evaluate("document.getElementById('password').form.requestSubmit()")
        await asyncio.wait_for(seen.wait(), 30)
        text, visible = shown[0]
        assert re.fullmatch(r"The tracker asked this node to wait: your request is sent again by itself in \d+ s\.",
                            text), text
        assert visible
        await page.wait_for_url(url(node, "/"), timeout=30_000)  # and the login goes through
        await expect(on_page(page, "Logged in as alice.")).to_be_visible()
        await expect(page.locator("p.pacing")).to_have_count(0)
