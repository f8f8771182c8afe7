"""UX bar points that a test can check: phone width (2), keyboard (3), live updates (4), first row near the top
(8), page weight (9), empty lists that say what to do (10), errors next to their cause.
"""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, Request, Response, expect
from playwright.async_api import Error as PlaywrightError

from tests.browser.helpers import (
    DESKTOP,
    PHONE,
    World,
    ensure_logged_in,
    on_page,
    open_until,
    ui_create_group,
    ui_login,
    url,
)
from tests.support.cluster import make_file

MIN_TEXT_PX = 14

TEXT_SIZES = """() => {
  const out = [];
  for (const el of document.querySelectorAll('body *')) {
    const own = [...el.childNodes].some(n => n.nodeType === 3 && n.textContent.trim());
    const r = el.getBoundingClientRect();
    if (!own || r.width === 0 || r.height === 0 || el.closest('[hidden],template,.visually-hidden')) continue;
    out.push([el.tagName + '.' + el.className, parseFloat(getComputedStyle(el).fontSize)]);
  }
  return out;
}"""

pytestmark = pytest.mark.browser


async def test_phone_width_has_no_sideways_scroll_small_text_or_zoom_lock(browser: Browser,
                                                                            world: World) -> None:
    ctx = await browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    try:
        page = await ctx.new_page()
        await ensure_logged_in(page, world.bob)
        long_id = "g" + "x" * 63  # its name is in the join button's words: they must wrap, not run off the screen
        world.carol.cmd(f"create_group {long_id}")  # made once for the session (a 409 after that)
        for path in ("/", "/groups", "/groups/team", "/downloads", f"/groups/{long_id}"):
            await page.goto(url(world.bob, path))
            widths = await page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
            assert widths[0] <= widths[1], f"{path} scrolls sideways: {widths}"
            small = [(tag, px) for tag, px in await page.evaluate(TEXT_SIZES) if px < MIN_TEXT_PX]
            assert small == [], f"{path}: text under {MIN_TEXT_PX}px: {small[:5]}"
            viewport = await page.get_attribute("meta[name=viewport]", "content") or ""
            assert "user-scalable=no" not in viewport and "maximum-scale" not in viewport
    finally:
        await ctx.close()


async def test_first_row_sits_near_the_top_on_desktop_and_phone(browser: Browser, world: World,
                                                               tmp_path: Path) -> None:
    # A group of more than 8 files has its jump links and its filter above the first file row
    world.bob.ok("create_group shelf")
    for i in range(9):
        world.bob.ok(f"upload_file {shlex.quote(str(make_file(tmp_path / f'f{i}.bin', 1000 + i, i)))} shelf")
    try:
        for viewport, limit in ((DESKTOP, 250), (PHONE, 400)):
            ctx = await browser.new_context(viewport=viewport)
            try:
                page = await ctx.new_page()
                await ensure_logged_in(page, world.bob)
                for path in ("/", "/groups", "/downloads", "/groups/shelf"):
                    await page.goto(url(world.bob, path))
                    box = await page.locator("main li.row").first.bounding_box()
                    assert box is not None and box["y"] <= limit, \
                        f"{path} at {viewport['width']}px: first row at {box}"
            finally:
                await ctx.close()
    finally:
        world.bob.ok("leave_group shelf")


async def tab_through(page: Page, limit: int = 120) -> list[dict[str, object]]:
    seen: list[dict[str, object]] = []
    for _ in range(limit):
        await page.keyboard.press("Tab")
        info = await page.evaluate("""() => {
            const el = document.activeElement;
            if (!el || el === document.body) return null;
            const cs = getComputedStyle(el);
            return {id: el.dataset.probe || '', outline: cs.outlineStyle, width: parseFloat(cs.outlineWidth)};
        }""")
        if info is None:
            break
        if seen and info["id"] == seen[0]["id"]:
            break
        seen.append(info)
    return seen


async def test_keyboard_reaches_every_action_with_a_visible_focus_ring(browser: Browser,
                                                                          world: World) -> None:
    ctx = await browser.new_context(viewport=DESKTOP)
    try:
        page = await ctx.new_page()
        await ensure_logged_in(page, world.alice)
        for path, ready in (("/groups/team", "li.row:has-text('big.bin')"), ("/groups", "li.row"), ("/", "li.row")):
            await open_until(page, url(world.alice, path), ready)
            count = await page.evaluate("""() => {
                const els = [...document.querySelectorAll('a[href], button, input, summary, select, textarea')]
                  .filter(el => !el.closest('[hidden], template') && !el.disabled && el.getClientRects().length)
                  // inside a closed disclosure: reached by opening its summary, which is itself checked
                  .filter(el => { const d = el.closest('details'); return !d || d.open || el.closest('summary'); });
                els.forEach((el, i) => el.dataset.probe = 'p' + i);
                return els.length;
            }""")
            reached = await tab_through(page)
            ids = {r["id"] for r in reached}
            missing = [f"p{i}" for i in range(count) if f"p{i}" not in ids]
            names = await page.evaluate("""(ids) => ids.map(i => {
                const el = document.querySelector(`[data-probe="${i}"]`);
                return el.tagName + ' ' + (el.textContent || el.name || '').trim().slice(0, 30);
            })""", missing)
            assert missing == [], f"{path}: not reachable by Tab: {names}"
            invisible = [r for r in reached if r["outline"] == "none" or not r["width"]]
            assert invisible == [], f"{path}: focus without a visible outline: {invisible[:3]}"
        # Enter opens a disclosure; Esc closes it.
        await page.goto(url(world.alice, "/groups/team"))
        await page.focus("details.danger > summary")
        await page.keyboard.press("Enter")
        assert await page.evaluate("document.querySelector('details.danger').open")
        await page.keyboard.press("Escape")  # ... and Esc closes it again, focus back on its summary
        assert not await page.evaluate("document.querySelector('details.danger').open")
        assert await page.evaluate("document.activeElement === document.querySelector('details.danger > summary')")
    finally:
        await ctx.close()


async def test_notice_is_a_small_toast_that_escape_closes(page: Page, world: World) -> None:
    await ui_login(page, world.alice)
    toast = page.locator("#toast")
    await expect(toast).to_contain_text("Logged in as alice.")
    box = await toast.bounding_box()
    assert box is not None and box["height"] < 80
    await page.keyboard.press("Escape")
    await expect(toast).to_be_hidden()


async def test_form_error_is_shown_next_to_the_field_that_caused_it(page: Page, world: World) -> None:
    await ensure_logged_in(page, world.alice)
    await ui_create_group(page, world.alice, "bad name!")
    error = page.locator("#create-error")
    await expect(error).to_contain_text("A group name is 1-64 characters")
    # The error sits right after the field that caused it, and the field points at it.
    assert await page.get_attribute("#group_id", "aria-describedby") == "create-error"
    assert await page.get_attribute("#group_id", "aria-invalid") == "true"


async def test_a_name_differing_only_in_capitals_is_named_and_its_address_leads_to_the_group(page: Page,
                                                                                              world: World) -> None:
    alice = world.alice
    await ensure_logged_in(page, alice)
    await ui_create_group(page, alice, "ZETA")
    await expect(page.locator("#create-error")).to_contain_text(
        "A group named zeta already exists, and names that differ only in capitals count as the same.")
    await page.goto(url(alice, "/groups/ZeTa"))
    assert page.url == url(alice, "/groups/zeta")
    await expect(page.get_by_role("heading", name="zeta", level=1)).to_be_visible()
    await page.goto(url(alice, "/groups/nosuchgroup"))
    await expect(on_page(page, "There is no group named nosuchgroup.")).to_be_visible()


async def test_a_refused_form_brings_its_error_into_view_and_focus(browser: Browser, world: World) -> None:
    # A short window stands in for a long page (many groups): the create form sits below the first screen.
    ctx = await browser.new_context(viewport={"width": 1000, "height": 220})
    try:
        page = await ctx.new_page()
        await ensure_logged_in(page, world.alice)
        await ui_create_group(page, world.alice, "bad name!")
        await expect(page.locator("#create-error")).to_contain_text("A group name is 1-64 characters")
        await expect(page.locator("#group_id")).to_be_focused()
        await expect(page.locator("#create-error")).to_be_in_viewport()
    finally:
        await ctx.close()


# Headless Chromium shows no notifications: a stand-in records what the page asks for.
FAKE_NOTIFICATION = """
window.__notes = [];
window.Notification = class { constructor(title, opts) { window.__notes.push(title + ': ' + opts.body); } };
window.Notification.permission = 'default';
window.Notification.requestPermission = () => { window.Notification.permission = 'granted';
                                                 return Promise.resolve('granted'); };
"""


async def test_a_page_asks_its_stream_for_whole_rows_only_of_the_downloads_it_lists(page: Page, world: World) -> None:
    await ensure_logged_in(page, world.bob)
    for path, asked in (("/groups", "/downloads/events?rows=brief"), ("/downloads", "/downloads/events?show=all"),
                        ("/downloads?show=C", "/downloads/events?show=C"), ("/", "/downloads/events")):
        await page.goto("about:blank")  # no page of the node's is open: the next stream is this path's
        async with page.expect_request(lambda r: "/downloads/events" in r.url) as stream:
            await page.goto(url(world.bob, path))
        assert (await stream.value).url == url(world.bob, asked)  # no piece maps for a page with no rows


async def test_downloads_update_live_without_reload_and_idle_page_makes_no_requests(
        browser: Browser, world: World, tmp_path: Path) -> None:
    ctx = await browser.new_context(viewport=DESKTOP)
    await ctx.add_init_script(FAKE_NOTIFICATION)
    try:
        page = await ctx.new_page()
        await ensure_logged_in(page, world.bob)
        await open_until(page, url(world.bob, "/groups/team"), "li.row:has-text('big.bin')")
        await page.goto(url(world.bob, "/downloads"))
        await page.evaluate("window.__sameDocument = true")
        await expect(page.locator("#live-status")).to_have_text("Updates live.")
        await page.get_by_role("button", name="Notify me when a download finishes").click()
        await expect(page.get_by_role("button", name="Turn off download notifications")).to_be_enabled()
        requests: list[Request] = []
        page.on("request", lambda r: requests.append(r))  # a function: Playwright tags its handlers
        await page.wait_for_timeout(2500)
        assert [r.url for r in requests] == [], "an idle downloads page should not poll"
        dest = tmp_path / "live"
        dest.mkdir()
        world.bob.ok(f"download_file team big.bin {shlex.quote(str(dest))}")
        row = page.locator("li.dl", has_text="big.bin")
        await expect(row).to_be_visible()
        await expect(row.locator("[data-f=state_text]")).to_have_text("Complete", timeout=60_000)
        await expect(row.locator("[data-f=progress_text]")).to_contain_text("(100%)")
        await expect(row.get_by_role("link", name="Save to this computer")).to_be_visible()
        assert await page.evaluate("window.__sameDocument === true")
        assert [r.url for r in requests] == [], "live updates came over the open event stream, no new request"
        notes = await page.evaluate("window.__notes")
        assert notes == ["Download complete: big.bin from team is verified and saved."]
    finally:
        await ctx.close()


async def test_download_notifications_can_be_turned_off_again_and_stay_off(browser: Browser, world: World) -> None:
    ctx = await browser.new_context(viewport=DESKTOP)
    await ctx.add_init_script(FAKE_NOTIFICATION)
    try:
        page = await ctx.new_page()
        await ensure_logged_in(page, world.bob)
        await page.goto(url(world.bob, "/downloads"))
        await page.get_by_role("button", name="Notify me when a download finishes").click()
        off = page.get_by_role("button", name="Turn off download notifications")
        await off.click()  # the browser keeps its permission; the page stops asking it to notify
        await expect(page.get_by_role("button", name="Notify me when a download finishes")).to_be_visible()
        assert await page.evaluate("localStorage.getItem('groupshare-notify')") == "off"
        await page.add_init_script("window.Notification.permission = 'granted';")  # as the real one stays
        await page.reload()
        await expect(page.get_by_role("button", name="Notify me when a download finishes")).to_be_visible()
    finally:
        await ctx.close()


async def test_first_screen_weighs_under_300_kB_in_under_25_requests(browser: Browser, world: World) -> None:
    ctx = await browser.new_context(viewport=DESKTOP)
    try:
        page = await ctx.new_page()
        await ensure_logged_in(page, world.bob)
        for path in ("/", "/groups/team", "/downloads"):
            sizes: list[int] = []

            async def on_response(response: Response, sizes: list[int] = sizes) -> None:
                try:
                    body = await response.body()
                except PlaywrightError:  # the event stream never finishes: it has no body to weigh
                    body = b""
                sizes.append(len(body))

            page.on("response", on_response)
            await page.goto(url(world.bob, path), wait_until="load")
            await page.wait_for_timeout(300)
            page.remove_listener("response", on_response)
            assert len(sizes) <= 25, f"{path}: {len(sizes)} requests"
            assert sum(sizes) <= 300_000, f"{path}: {sum(sizes)} bytes"
    finally:
        await ctx.close()


async def test_empty_lists_say_what_to_do_next(page: Page, world: World) -> None:
    await ensure_logged_in(page, world.carol)
    await page.goto(url(world.carol, "/"))
    await expect(on_page(page, "This node shares nothing yet — open one of your groups")).to_be_visible()
    await expect(on_page(page, "No downloads yet — open one of your groups")).to_be_visible()
    await page.goto(url(world.carol, "/downloads"))
    await expect(on_page(page, "No downloads yet — open one of")).to_be_visible()
    await ensure_logged_in(page, world.alice)
    await page.goto(url(world.alice, "/groups/zeta"))
    await expect(on_page(page, "No shared files yet — share a file with the group.")).to_be_visible()


async def test_members_show_by_name_with_their_node_address_only_in_a_disclosure(page: Page, world: World) -> None:
    await ensure_logged_in(page, world.alice)
    await open_until(page, url(world.alice, "/groups/team"), "li.member:has-text('bob')")
    row = page.locator("li.member", has_text="bob")
    details = row.locator("details.member-details")
    address = details.locator("dd code").first
    await expect(address).to_be_hidden()  # addresses stay folded away (UX point 6)
    await details.locator("summary").click()
    await expect(address).to_have_text(f"127.0.0.1:{world.bob.piece_port}")


async def test_a_notice_naming_a_long_id_wraps_inside_the_toast_on_a_phone(browser: Browser, world: World) -> None:
    ctx = await browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    gid = "L" * 64  # the longest id, one unbroken word
    try:
        page = await ctx.new_page()
        await ensure_logged_in(page, world.alice)
        await ui_create_group(page, world.alice, gid)
        toast = page.locator("#toast")
        await expect(toast).to_contain_text(gid)
        box = await toast.bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], box
        sizes = await page.evaluate("(() => { const s = document.querySelector('#toast > span');"
                                    " return [s.scrollWidth, s.clientWidth]; })()")
        assert sizes[0] <= sizes[1], f"the notice's text overflows its box: {sizes}"
    finally:
        await ctx.close()
        world.alice.ok(f"leave_group {gid}")  # the group goes with its last member


async def test_a_notice_in_a_background_tab_waits_until_the_tab_is_seen(browser: Browser, world: World) -> None:
    ctx = await browser.new_context(viewport=DESKTOP)
    try:
        # The tab starts hidden (as one behind another would be), until the test says it is seen.
        await ctx.add_init_script("""Object.defineProperty(Document.prototype, "visibilityState", {
            configurable: true, get() { return window.__seen ? "visible" : "hidden"; } });""")
        await ctx.clock.install()
        page = await ctx.new_page()
        await ui_login(page, world.alice)
        await ui_create_group(page, world.alice, "backtab")
        toast = page.locator("#toast")
        await expect(toast).to_contain_text("Group backtab created.")
        await page.clock.pause_at(await page.evaluate("Date.now() / 1000") + 1)  # seconds; time stands still now
        await page.clock.run_for(60_000)  # past the 20 s a notice in view stays
        await expect(toast).to_be_visible()
        await page.evaluate("window.__seen = true; document.dispatchEvent(new Event('visibilitychange'))")
        await page.clock.run_for(25_000)
        await expect(toast).to_be_hidden()  # seen now: it closes by itself as usual
    finally:
        await ctx.close()
        world.alice.ok("leave_group backtab")


async def test_back_after_a_refused_form_loads_the_page_instead_of_asking_to_send_the_form_again(
        page: Page, world: World) -> None:
    alice = world.alice
    await ensure_logged_in(page, alice)
    await ui_create_group(page, alice, "bad name!")
    await expect(page.locator("#create-error")).to_be_visible()
    assert page.url == url(alice, "/groups")  # the history holds the page's address, not the POST's
    await page.fill("#group_id", "backagain")
    await page.click("button:has-text('Create group')")
    await expect(page.locator("h1")).to_have_text("backagain")
    response = await page.go_back()
    assert response is not None and response.request.method == "GET" and response.status == 200
    await expect(page.locator("h1")).to_have_text("Groups")
    await expect(page.locator("#create-error")).to_have_count(0)  # a fresh page, not the refused form again
    alice.ok("leave_group backagain")


async def test_a_refused_post_shown_as_an_error_page_leaves_its_page_in_the_history(page: Page, world: World) -> None:
    alice = world.alice
    await ensure_logged_in(page, alice)
    await page.goto(url(alice, "/downloads"))
    token = await page.locator("input[name=csrf_token]").first.get_attribute("value")
    # A form of the page, sent for something that cannot be (as one made stale by another tab would be).
    await page.evaluate("""(token) => {
        const f = document.createElement("form");
        f.method = "post"; f.action = "/downloads/retry";
        for (const [k, v] of [["csrf_token", token], ["group_id", "no such group!"], ["file_name", "x.bin"]]) {
            const i = document.createElement("input"); i.type = "hidden"; i.name = k; i.value = v; f.appendChild(i);
        }
        document.body.appendChild(f); f.submit();
    }""", token)
    await expect(page.locator("h1")).to_have_text("That did not work")
    assert page.url == url(alice, "/downloads")  # the page the form was on, not the POST's address
    await page.goto(url(alice, "/"))
    response = await page.go_back()
    assert response is not None and response.request.method == "GET" and response.status == 200
    await expect(page.locator("h1")).to_have_text("Downloads")


async def test_esc_in_a_settings_disclosure_closes_it_and_leaves_the_notice(page: Page, world: World) -> None:
    alice = world.alice
    await ensure_logged_in(page, alice)
    await page.goto(url(alice, "/downloads"))
    await page.locator("details.limit > summary").click()
    await page.fill("#upload-limit", "0")  # no limit, as it is: the notice is what this test needs
    await page.get_by_role("button", name="Save upload limit").click()
    toast = page.locator("#toast")
    await expect(toast).to_be_visible()
    await page.locator("details.limit > summary").click()
    await page.locator("#upload-limit").focus()
    await page.keyboard.press("Escape")
    assert not await page.locator("details.limit").evaluate("d => d.open")
    await expect(toast).to_be_visible()  # one Esc, one thing closed
    await toast.get_by_role("button", name="Dismiss notice").focus()
    await page.keyboard.press("Escape")
    await expect(toast).to_be_hidden()
    assert await page.evaluate("document.activeElement.id") == "main"  # not back to the top of the page
