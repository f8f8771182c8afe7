"""Keyboard and screen reader points of the WCAG 2.2 AA audit: what a screen reader hears (the page's notice, an
upload's milestones, the filter's count once typing pauses), where focus goes (after an action's redirect, while
a form is busy, when a live patch hides or moves the focused control), the notice's clock that waits while it is
pointed at or focused, non-text contrast of controls and piece maps (measured), and the words of titles and
links (an "Error: " title, the login fields pointing at the error, "Groups, 1 asking…").
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import pytest
from playwright.async_api import Browser, BrowserContext, Page, Route, expect

from tests.browser.helpers import DESKTOP, World, ensure_logged_in, ui_create_group, ui_login, url
from tests.browser.test_a11y import contrast
from tests.support.cluster import make_file

pytestmark = pytest.mark.browser

# Every change of the page's polite announcer and of the upload's progress words, kept across page loads.
RECORDER = """(() => {
  const start = () => new MutationObserver(records => {
    for (const r of records) {
      const el = r.target.nodeType === 1 ? r.target : r.target.parentElement;
      if (!el) continue;
      if (el.closest("#announcer") && el.closest("#announcer").textContent)
        window.recordA11y("said", el.closest("#announcer").textContent);
      if (el.closest("[data-upload-words]")) window.recordA11y("words", el.closest("[data-upload-words]").textContent);
    }
  }).observe(document, {subtree: true, childList: true, characterData: true});
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start); else start();
})();"""


async def recording(ctx: BrowserContext) -> dict[str, list[str]]:
    heard: dict[str, list[str]] = {"said": [], "words": []}
    await ctx.expose_binding("recordA11y", lambda _source, kind, text: heard[kind].append(text))
    await ctx.add_init_script(RECORDER)
    return heard


async def focused_id(page: Page) -> str:
    return str(await page.evaluate("document.activeElement.id || document.activeElement.tagName"))


async def test_a_notice_is_read_out_and_its_clock_waits_while_it_is_pointed_at_or_focused(
        browser: Browser, world: World) -> None:
    ctx = await browser.new_context(viewport=DESKTOP)
    try:
        await ctx.clock.install()
        page = await ctx.new_page()
        await ui_login(page, world.alice)
        toast = page.locator("#toast")
        await expect(toast).to_contain_text("Logged in as alice.")
        await page.clock.pause_at(await page.evaluate("Date.now() / 1000") + 1)  # seconds; time stands still from here
        # The notice came with the page (a live region is read only when it changes): the announcer says it.
        await expect(page.locator("#announcer")).to_have_text("Logged in as alice.")
        await toast.get_by_role("button", name="Dismiss notice").focus()
        await page.clock.run_for(60_000)
        await expect(toast).to_be_visible()  # focus in it: its clock waits
        await page.locator("#main").focus()
        await toast.hover()
        await page.clock.run_for(60_000)
        await expect(toast).to_be_visible()  # pointed at: its clock waits
        await page.mouse.move(1, 1)
        await page.clock.run_for(25_000)
        await expect(toast).to_be_hidden()  # left alone: it closes by itself
    finally:
        await ctx.close()


async def test_a_group_page_action_lands_focus_on_the_section_it_changed(browser: Browser, page: Page,
                                                                        world: World) -> None:
    alice, carol = world.alice, world.carol
    gid = "focus-lab"
    await ensure_logged_in(page, alice)
    try:
        await ui_create_group(page, alice, gid)
        await expect(page.locator("#toast")).to_contain_text(f"Group {gid} created.")
        await expect(page.locator("h1#group-name")).to_be_focused()  # the new group's name, not <body>
        carol.ok(f"join_group {gid}")
        await page.goto(url(alice, f"/groups/{gid}"))
        await page.get_by_role("button", name="Decline carol").click()
        await expect(page.locator("#toast")).to_contain_text("Declined carol's request.")
        await expect(page.locator("#requests")).to_have_count(0)  # the last one: its section is gone
        await expect(page.locator("h2#members")).to_be_focused()  # the section standing in for it
        await page.fill("#share-path", str(world.files / "notes.txt"))
        await page.get_by_role("button", name="Share this file").click()
        await expect(page.locator("#toast")).to_contain_text(f"Sharing notes.txt with {gid}.")
        await expect(page.locator("h2#share")).to_be_focused()  # back at the form used
        await page.get_by_role("button", name="Stop sharing notes.txt").click()
        await expect(page.locator("#toast")).to_contain_text("Stopped sharing notes.txt.")
        await expect(page.locator("h2#my-shares")).to_be_focused()
    finally:
        alice.ok(f"leave_group {gid}")
        # carol's node tells her of the answer the next time it lists her groups: heard here, not in a later test
        other = await browser.new_context()
        try:
            await ensure_logged_in(await other.new_page(), carol)
        finally:
            await other.close()


async def test_an_upload_is_announced_at_milestones_and_focus_follows_its_panel(browser: Browser,
                                                                               world: World) -> None:
    alice = world.alice
    src = make_file(world.files / "a11y" / "milestones.bin", 1_500_000, 21)
    ctx = await browser.new_context(viewport=DESKTOP)
    try:
        heard = await recording(ctx)
        page = await ctx.new_page()
        await ensure_logged_in(page, alice)
        await page.goto(url(alice, "/groups/zeta"))
        form = page.locator("form[data-upload]")
        words = form.locator("[data-upload-words]")
        # The words that change many times a second are no live region, nor inside one.
        assert await words.evaluate("w => w.closest('[aria-live], [role=status], [role=alert]') === null")
        cdp = await page.context.new_cdp_session(page)
        await cdp.send("Network.enable")
        slow = {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": 100_000}
        await cdp.send("Network.emulateNetworkConditions", slow)
        await page.set_input_files("#upload-file", str(src))
        await page.get_by_role("button", name="Upload and share").focus()
        await page.keyboard.press("Enter")
        cancel = form.get_by_role("button", name="Cancel upload")
        await expect(cancel).to_be_focused()  # the button pressed is busy now: focus on the way out
        await expect(words).to_contain_text(" of 1.5 MB sent")
        await page.keyboard.press("Enter")  # cancels
        said = form.locator("[data-upload-said]")
        await expect(said).to_have_text("Upload cancelled. Nothing was shared.")
        await expect(said).to_be_focused()  # not <body>: Cancel upload is hidden now
        await expect(page.locator("#announcer")).to_have_text("Upload cancelled. Nothing was shared.")

        fast = dict(slow, uploadThroughput=600_000)  # ~2.5 s: many progress events
        await cdp.send("Network.emulateNetworkConditions", fast)
        heard["said"].clear()
        heard["words"].clear()
        await page.get_by_role("button", name="Upload and share").click()
        await expect(page.locator("#toast")).to_contain_text("Uploaded and sharing milestones.bin with zeta.")
        await page.wait_for_url(url(alice, "/groups/zeta#share"))
        await expect(page.locator("h2#share")).to_be_focused()
        await expect(page.locator("#announcer")).to_have_text(re.compile("Uploaded and sharing milestones.bin"))
        during = [s for s in heard["said"] if "Uploaded and sharing" not in s]
        assert during[0] == "Uploading milestones.bin, 1.5 MB.", heard
        assert "Sent. The node is checking the file and sharing it." in during, heard
        assert len(during) <= 3, heard  # the start, "sent": no milestone within 10 s of the last
        assert len(set(heard["words"])) > len(during) + 3, heard  # the panel's words changed far more often
    finally:
        await ctx.close()
        alice.cmd("stop_share zeta milestones.bin")  # (nothing to stop when the upload did not happen)


async def test_a_busy_form_keeps_focus_on_its_button_and_is_sent_once(page: Page, world: World) -> None:
    alice = world.alice
    await ensure_logged_in(page, alice)
    await page.goto(url(alice, "/groups/zeta"))
    # The node's slow answer, played by the page: the post is counted and goes nowhere, so the page stays busy
    # (a listener of the window's, after the page's own: they see the submit as they would).
    await page.evaluate("""window.posts = 0;
        window.addEventListener("submit", e => { window.posts += 1; e.preventDefault(); });""")
    await page.fill("#share-path", str(world.files / "notes.txt"))
    form = page.locator("form[action='/groups/zeta/share']")
    button = form.locator("button[type=submit]")
    await button.focus()
    await page.keyboard.press("Enter")
    await expect(form).to_have_attribute("aria-busy", "true")
    await expect(button).to_have_text("Reading the file…")
    await expect(button).to_have_attribute("aria-disabled", "true")
    await expect(button).to_be_focused()  # a disabled button drops the focus to <body>
    await page.keyboard.press("Enter")  # a second press sends nothing
    await page.evaluate("document.querySelector(\"form[action='/groups/zeta/share']\").requestSubmit()")
    await expect(button).to_be_focused()
    assert await page.evaluate("window.posts") == 1


def _row(key: str, name: str, state: str) -> dict[str, Any]:
    words = {"P": ("Paused", "Paused. The verified pieces are kept: Resume goes on from them."),
             "D": ("Downloading", "From alice at 10 kB/s.")}[state]
    return {"key": key, "group": "team", "name": name, "state": state, "state_text": words[0], "tone": state,
            "percent": 40, "progress_text": "40%", "detail_text": words[1], "given_text": "", "given": [],
            "cells": "dd..", "map_label": "2 of 4 pieces done", "save_url": "", "retry": False,
            "pause": state == "D", "resume": state == "P", "remove_word": "Cancel", "kept": "", "announce": ""}


async def test_a_live_patch_keeps_focus_in_the_row_it_hides_or_moves_a_control_of(page: Page, world: World) -> None:
    bob = world.bob
    await ensure_logged_in(page, bob)
    a, b = "dl-a11y-first", "dl-a11y-second"
    # The node's stream, played by the test: each connection gets one message, then the browser reconnects.
    phases: list[Callable[[], dict[str, Any]]] = [
        lambda: {"order": [a, b], "rows": [_row(a, "first.bin", "P"), _row(b, "second.bin", "P")]},
        lambda: {"order": [a, b], "rows": [_row(a, "first.bin", "P"), _row(b, "second.bin", "D")]},  # resumed
        lambda: {"order": [b, a], "rows": [_row(a, "first.bin", "P"), _row(b, "second.bin", "D")]},  # moved up
    ]
    phase = [0]

    async def stream(route: Route) -> None:
        body = f"retry: 100\n\nevent: downloads\ndata: {json.dumps(phases[phase[0]]())}\n\n"
        await route.fulfill(status=200, content_type="text/event-stream", body=body)

    await page.route(re.compile(r"/downloads/events(\?|$)"), stream)
    await page.goto(url(bob, "/downloads"))
    second = page.locator(f"li#{b}")
    resume = second.get_by_role("button", name="Resume second.bin")
    await expect(resume).to_be_visible()
    await resume.focus()
    phase[0] = 1  # it resumed elsewhere (another tab, a command): Resume goes
    await expect(resume).to_be_hidden()
    await expect(second.get_by_role("button", name="Pause second.bin")).to_be_focused()
    phase[0] = 2  # running sorts first: the row moves above the other
    await expect(page.locator("li.dl").first).to_have_id(b)
    await expect(second.get_by_role("button", name="Pause second.bin")).to_be_focused()


async def test_the_filter_count_is_said_once_typing_pauses(browser: Browser, world: World) -> None:
    alice = world.alice
    groups = [f"quiet-{i}" for i in range(1, 9)]
    for gid in groups:
        alice.ok(f"create_group {gid}")
    ctx = await browser.new_context(viewport=DESKTOP)
    try:
        await ctx.clock.install()
        page = await ctx.new_page()
        await ensure_logged_in(page, alice)
        await page.goto(url(alice, "/groups"))
        count = page.locator("#filter-count")
        before = await count.text_content()
        await page.clock.pause_at(await page.evaluate("Date.now() / 1000") + 1)  # (seconds)
        await page.locator("#q").press_sequentially("quiet")
        await expect(page.locator("ul.rows li.row:visible")).to_have_count(len(groups))  # rows follow each key
        await page.clock.run_for(300)
        assert await count.text_content() == before  # still typing: the live region is left alone
        await page.clock.run_for(400)
        await expect(count).to_have_text(re.compile(f"^{len(groups)} of \\d+ groups match “quiet”.$"))
    finally:
        await ctx.close()
        for gid in groups:
            alice.ok(f"leave_group {gid}")


@pytest.mark.parametrize("scheme", ["light", "dark"])
async def test_control_edges_and_piece_map_colours_have_3_to_1_contrast(browser: Browser, world: World,
                                                                       scheme: str) -> None:
    # Before: a secondary button's edge #d5dae0 on white 1.41:1; "partly done" #8fb8e6 on the track #dfe4ea 1.62:1.
    assert contrast("rgb(213, 218, 224)", "rgb(255, 255, 255)") < 1.5
    assert contrast("rgb(143, 184, 230)", "rgb(223, 228, 234)") < 1.7
    ctx = await browser.new_context(viewport=DESKTOP, color_scheme=scheme)  # type: ignore[arg-type]
    try:
        page = await ctx.new_page()
        await page.goto(url(world.alice, "/login"))
        colours = await page.evaluate("""() => {
            const main = document.querySelector("main"), card = document.querySelector(".card");
            const add = html => { const d = document.createElement("div"); d.innerHTML = html; main.appendChild(d);
                                  return d.firstElementChild; };
            const button = add('<button type="button" class="secondary">x</button>');
            const link = add('<a class="button secondary" href="#">x</a>');
            const kinds = ["pm-done", "pm-part", "pm-flight", "pm-miss",
                           "peer-0", "peer-1", "peer-2", "peer-3", "peer-4", "peer-5"];
            const svg = add('<svg class="pmap">' + kinds.map(c => '<rect class="' + c + '"/>').join("") + '</svg>');
            const fills = {};
            svg.querySelectorAll("rect").forEach(r => { fills[r.getAttribute("class")] = getComputedStyle(r).fill; });
            return {surface: getComputedStyle(card).backgroundColor, button: getComputedStyle(button).borderTopColor,
                    link: getComputedStyle(link).borderTopColor, track: getComputedStyle(svg).backgroundColor, fills};
        }""")
        assert contrast(colours["button"], colours["surface"]) >= 3, colours
        assert contrast(colours["link"], colours["surface"]) >= 3, colours
        fills = colours["fills"]
        assert fills["pm-miss"] == colours["track"]
        for kind, fill in fills.items():
            if kind != "pm-miss":
                assert contrast(fill, colours["track"]) >= 3, (kind, colours)
        assert len(set(fills.values())) == len(fills), fills  # each still its own colour
    finally:
        await ctx.close()


async def test_titles_and_names_say_what_a_screen_reader_needs(browser: Browser, world: World) -> None:
    alice = world.alice
    ctx = await browser.new_context(viewport=DESKTOP)
    try:
        page = await ctx.new_page()
        await page.goto(url(alice, "/login"))
        await expect(page).to_have_title("Log in · GroupShare")
        await page.fill("#user_id", "alice")
        await page.fill("#password", "not-her-password")
        await page.click("form button[type=submit]:has-text('Log in')")
        await expect(page.locator("#form-error")).to_contain_text("do not match")
        await expect(page).to_have_title("Error: Log in · GroupShare")
        for field in ("#user_id", "#password"):
            await expect(page.locator(field)).to_have_attribute("aria-invalid", "true")
            await expect(page.locator(field)).to_have_attribute("aria-describedby", "form-error")
        await expect(page.locator("#user_id")).to_be_focused()  # described by the error: it is read with it

        await ui_login(page, alice)
        # carol asks to join team (the world): the count is its own word, not "Groups1 asking…", nor "Groups , 1"
        await expect(page.get_by_role("navigation", name="Main").get_by_role("link", name=re.compile(
            r"^Groups, \d+ asking to join your groups$"))).to_be_visible()
        await ui_create_group(page, alice, "bad name!")
        await expect(page.locator("#create-error")).to_be_visible()
        await expect(page).to_have_title("Error: Groups · GroupShare")
    finally:
        await ctx.close()
