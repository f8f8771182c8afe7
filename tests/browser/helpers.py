"""Helpers of the browser suite: addresses, logging in through the form, waiting for the tracker to catch up."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from playwright.async_api import Locator, Page, ViewportSize

from tests.support.cluster import Cluster, Node

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
        "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1"]
DESKTOP: ViewportSize = {"width": 1280, "height": 800}
PHONE: ViewportSize = {"width": 390, "height": 844}
ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "test-artifacts" / "screenshots"


def on_page(page: Page, text: str) -> Locator:
    """The element showing ``text``, not the screen readers' copy of it: a notice's words are put in the hidden
    ``#announcer`` region 250 ms after the page loads (app.js), and a look at the page after that found both."""
    return page.get_by_text(text).and_(page.locator(":not(#announcer)"))


async def save_limit(page: Page, which: str, rate: str) -> None:
    """Send the downloads page's ``which`` ("upload" or "download") limit form with ``rate``, opening its
    disclosure first if it is closed."""
    details = page.locator("details.limit")
    if not await details.evaluate("d => d.open"):
        await details.locator("summary").click()
    await page.fill(f"#{which}-limit", rate)
    await page.get_by_role("button", name=f"Save {which} limit").click()


async def assert_fits(page: Page, top: int, where: str) -> None:
    """The page's first row within ``top`` px of its top, and nothing wider than the window (UX.md, bar 2 and 8)."""
    box = await page.locator("main li.row").first.bounding_box()
    assert box is not None and box["y"] <= top, f"{where}: first row at {box}"
    widths = await page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert widths[0] <= widths[1], f"{where} scrolls sideways: {widths}"


def url(node: Node, path: str = "/") -> str:
    return f"http://127.0.0.1:{node.web_port}{path}"


async def ui_login(page: Page, node: Node, user: str | None = None, password: str | None = None) -> None:
    """Log in through the login form and land on the dashboard."""
    await page.goto(url(node, "/login"))
    await page.fill("#user_id", user or node.name)
    await page.fill("#password", password or node.password)
    await page.click("form button[type=submit]:has-text('Log in')")
    await page.wait_for_url(url(node, "/"))


@dataclass
class World:
    cluster: Cluster
    alice: Node
    bob: Node
    carol: Node
    files: Path


async def open_until(page: Page, address: str, selector: str, tries: int = 40) -> None:
    """Load ``address`` until ``selector`` is on it (the tracker learns of live copies by heartbeat)."""
    for _ in range(tries):
        await page.goto(address)
        if await page.locator(selector).count():
            return
        await page.wait_for_timeout(500)
    raise AssertionError(f"{selector} never appeared on {address}")


async def ensure_logged_in(page: Page, node: Node) -> None:
    """Log in unless this context is already (a test before may have logged the node out)."""
    await page.goto(url(node, "/"))
    if "/login" in page.url:
        await ui_login(page, node)


async def ui_create_group(page: Page, node: Node, gid: str) -> None:
    """Send the groups page's "Create group" form for ``gid`` (the caller checks what came back)."""
    await page.goto(url(node, "/groups"))
    await page.fill("#group_id", gid)
    await page.click("button:has-text('Create group')")
