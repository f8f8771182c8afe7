"""The browser door: CSRF tokens, cross-site Origin and foreign Host refused, names escaped, sessions that
rotate at login and die everywhere at logout, the cookie's flags, the key file's mode, non-members see no files.
"""

from __future__ import annotations

import re
import stat
from typing import cast

import pytest
from playwright._impl._api_structures import SetCookieParam
from playwright.async_api import Browser, BrowserContext, Dialog, Page, expect

from tests.browser.helpers import DESKTOP, World, ensure_logged_in, on_page, open_until, ui_login, url
from tests.support.cluster import http_request

pytestmark = pytest.mark.browser


async def csrf_of(page: Page) -> str:
    return await page.get_attribute("input[name=csrf_token]", "value") or ""


async def test_form_post_without_csrf_token_is_refused(page: Page, context: BrowserContext,
                                                       world: World) -> None:
    node = world.alice
    await ensure_logged_in(page, node)
    await page.goto(url(node, "/groups"))
    origin = url(node, "").rstrip("/")
    refused = await context.request.post(url(node, "/groups"), form={"group_id": "sneaky"},
                                         headers={"Origin": origin}, max_redirects=0)
    assert refused.status == 403
    wrong = await context.request.post(url(node, "/groups"), form={"group_id": "sneaky", "csrf_token": "x" * 43},
                                       headers={"Origin": origin}, max_redirects=0)
    assert wrong.status == 403
    upload = await context.request.post(url(node, "/groups/team/upload"), headers={"Origin": origin},
                                        multipart={"file": {"name": "a.txt", "mimeType": "text/plain",
                                                            "buffer": b"hello"}}, max_redirects=0)
    assert upload.status == 403
    await page.goto(url(node, "/groups"))
    await expect(page.locator("a.name", has_text="sneaky")).to_have_count(0)


async def test_cross_site_origin_and_foreign_host_are_refused(page: Page, context: BrowserContext,
                                                              world: World) -> None:
    node = world.alice
    await ensure_logged_in(page, node)
    await page.goto(url(node, "/groups"))
    token = await csrf_of(page)
    cross = await context.request.post(url(node, "/groups"), form={"group_id": "evil", "csrf_token": token},
                                       headers={"Origin": "http://evil.example"}, max_redirects=0)
    assert cross.status == 403
    site = await context.request.post(url(node, "/groups"), form={"group_id": "evil", "csrf_token": token},
                                      headers={"Sec-Fetch-Site": "cross-site"}, max_redirects=0)
    assert site.status == 403
    status, _ = http_request(node.web_port, "GET", "/login", headers={"Host": f"evil.example:{node.web_port}"})
    assert status == 403
    status, _ = http_request(node.web_port, "GET", "/logout", headers={"Host": f"127.0.0.1:{node.web_port}"})
    assert status == 303, "logging out is POST only: a GET is sent to the home page"
    assert node.api("/api/status")["user_id"] == node.name


async def test_a_name_with_markup_renders_as_text(page: Page, world: World) -> None:
    node = world.alice
    dialogs: list[str] = []
    page.on("dialog", lambda d: dialogs.append(d.message))
    await ensure_logged_in(page, node)
    await page.goto(url(node, "/groups"))
    await page.fill("#group_id", "<script>alert(1)</script>")
    await page.click("button:has-text('Create group')")
    assert await page.input_value("#group_id") == "<script>alert(1)</script>"
    await page.goto(url(node, "/groups/%3Cscript%3Ealert(2)%3C%2Fscript%3E"))
    await expect(page.locator(".error-block")).to_contain_text("There is no group named <script>alert(2)</script>")
    assert await page.evaluate("[...document.scripts].every(s => s.src)"), "an inline script reached the page"
    assert dialogs == []


async def test_non_member_sees_an_ask_to_join_page_and_no_files(page: Page, world: World) -> None:
    await ensure_logged_in(page, world.alice)
    await open_until(page, url(world.alice, "/groups/team"), "li.row:has-text('notes.txt')")
    await ensure_logged_in(page, world.carol)
    await page.goto(url(world.carol, "/groups/team"))
    await expect(on_page(page, "You are not a member of this group")).to_be_visible()
    await expect(on_page(page, "Request pending")).to_be_visible()
    content = await page.content()
    assert "notes.txt" not in content and "big.bin" not in content
    assert await page.locator("form[action$='/download'], form[action$='/upload']").count() == 0


async def test_login_rotates_the_session_and_logout_ends_every_copy(browser: Browser, world: World) -> None:
    node = world.carol
    first = await browser.new_context(viewport=DESKTOP)
    second = await browser.new_context(viewport=DESKTOP)
    try:
        page = await first.new_page()
        await page.goto(url(node, "/login"))
        before = {c["name"]: c["value"] for c in await first.cookies()}
        await ui_login(page, node)
        cookies = await first.cookies()
        name = f"groupshare_session_{node.web_port}"  # one name per node: two nodes in one browser keep both
        session = next(c for c in cookies if c["name"] == name)
        assert session["httpOnly"] and session["sameSite"] == "Lax"
        assert before.get(name) != session["value"], "login must start a new session"
        await second.add_cookies(cast(list[SetCookieParam], cookies))  # a stolen or second copy of the same cookie
        copy = await second.new_page()
        await copy.goto(url(node, "/downloads"))
        await expect(copy.locator("h1")).to_have_text("Downloads")
        asked: list[str] = []

        async def say_yes(dialog: Dialog) -> None:
            asked.append(dialog.message)
            await dialog.accept()

        page.on("dialog", say_yes)
        posts: list[str] = []
        page.on("request", lambda r: posts.append(r.url) if r.method == "POST" else None)
        await page.get_by_role("button", name=re.compile("Log out")).dblclick()  # a double click: asked and sent once
        await expect(page.locator("h1")).to_have_text("Log in")
        assert len(asked) == 1 and "stops sharing" in asked[0]  # it said what logging out does before doing it
        assert posts == [url(node, "/logout")]
        # The copy's open downloads page learns of the logout over its event stream and leaves by itself.
        await expect(copy.locator("h1")).to_have_text("Log in", timeout=30_000)
        await expect(copy.locator("#toast")).to_contain_text("You were logged out elsewhere")
        assert copy.url.endswith("/login?next=/downloads")  # logging in again comes back to the downloads page
        assert "why=" not in copy.url  # said once: a reload does not say it again
        await copy.goto(url(node, "/downloads"))
        await expect(copy.locator("h1")).to_have_text("Log in")
        await second.clear_cookies()
        await second.add_cookies(cast(list[SetCookieParam], cookies))  # the old cookie again, after logout: still dead
        await copy.goto(url(node, "/"))
        await expect(copy.locator("h1")).to_have_text("Log in")
    finally:
        await first.close()
        await second.close()
        ctx = await browser.new_context(viewport=DESKTOP)
        await ui_login(await ctx.new_page(), node)  # leave carol logged in for the other tests
        await ctx.close()


async def test_two_nodes_in_one_browser_keep_their_own_logins(page: Page, world: World) -> None:
    await ensure_logged_in(page, world.alice)
    await ensure_logged_in(page, world.bob)  # the same browser, another node on the same host
    await page.goto(url(world.alice, "/downloads"))
    await expect(page.locator("h1")).to_have_text("Downloads")  # still logged in on alice's node
    await expect(page.get_by_role("button", name="Log out alice")).to_be_visible()


async def test_wrong_password_is_refused_in_plain_words(page: Page, world: World) -> None:
    node = world.bob
    await page.goto(url(node, "/login"))
    await page.fill("#user_id", "bob")
    await page.fill("#password", "not-the-password")
    await page.click("form button[type=submit]:has-text('Log in')")
    await expect(page.locator("#form-error")).to_contain_text("That user id and password do not match")
    await page.goto(url(node, "/"))
    assert "/login" in page.url
    assert node.api("/api/status")["user_id"] == "bob", "a wrong password must not log the node out"


def test_session_key_is_a_private_file(world: World) -> None:
    path = world.carol.data_dir / "web-session.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


async def test_a_garbled_upload_is_refused_in_words_and_leaves_nothing(page: Page, context: BrowserContext,
                                                                       world: World) -> None:
    node = world.alice
    await ensure_logged_in(page, node)
    await page.goto(url(node, "/groups/zeta"))
    token = await csrf_of(page)
    before = sorted((node.data_dir / "uploads").glob("*")) if (node.data_dir / "uploads").exists() else []
    cut = (f'--XX\r\nContent-Disposition: form-data; name="csrf_token"\r\n\r\n{token}\r\n--XX\r\n'
           'Content-Disposition: form-data; name="file"; filename="cut.bin"\r\n\r\nhalf a fi').encode()
    answer = await context.request.post(url(node, "/groups/zeta/upload"), data=cut, max_redirects=0, headers={
        "Content-Type": "multipart/form-data; boundary=XX", "Origin": url(node, "").rstrip("/")})
    assert answer.status == 400
    assert "The upload was cut off or garbled" in await answer.text()
    after = sorted((node.data_dir / "uploads").glob("*")) if (node.data_dir / "uploads").exists() else []
    assert after == before


async def test_a_page_that_leaves_on_a_logout_elsewhere_keeps_what_was_typed_for_after_the_login(
        browser: Browser, world: World) -> None:
    node = world.alice
    ctx = await browser.new_context()
    try:
        tab1, tab2 = await ctx.new_page(), await ctx.new_page()
        await ui_login(tab1, node)
        await tab1.goto(url(node, "/groups/team"))
        typed = str(world.files / "half typed.txt")
        await tab1.fill("#share-path", typed)  # not sent yet
        await tab2.goto(url(node, "/"))
        tab2.once("dialog", lambda dialog: dialog.accept())
        await tab2.get_by_role("button", name=re.compile("Log out")).click()
        await expect(tab1.locator("h1")).to_have_text("Log in")  # tab1 heard it and left by itself
        await tab1.fill("#user_id", node.name)
        await tab1.fill("#password", node.password)
        await tab1.click("form button[type=submit]:has-text('Log in')")
        await tab1.wait_for_url(url(node, "/groups/team"))
        await expect(tab1.locator("#share-path")).to_have_value(typed)  # back, as typed
        await tab1.reload()
        await expect(tab1.locator("#share-path")).to_have_value("")  # once: not for ever
        # A shared machine: what alice typed is not put back for the next user who logs in in her tab
        node.cmd("create_user frank frank-pw-5522")  # made once for the session
        await tab1.goto(url(node, "/groups"))
        await tab1.fill("#group_id", "alices-secret-plan")
        node.ok("logout")
        await expect(tab1.locator("h1")).to_have_text("Log in")
        await tab1.fill("#user_id", "frank")
        await tab1.fill("#password", "frank-pw-5522")
        await tab1.click("form button[type=submit]:has-text('Log in')")
        await tab1.wait_for_url(url(node, "/groups"))
        await expect(tab1.locator("#group_id")).to_have_value("")
    finally:
        await ctx.close()
        if node.api("/api/status")["user_id"] != node.name:
            node.cmd("logout")
            node.ok(f"login {node.name} {node.password}")  # the other tests expect alice logged in


async def test_a_form_sent_after_a_logout_in_another_tab_says_so_and_comes_back(browser: Browser,
                                                                                world: World) -> None:
    node = world.alice
    ctx = await browser.new_context()
    try:
        tab1, tab2 = await ctx.new_page(), await ctx.new_page()
        # tab2's live stream is asleep (as in a suspended tab), so it does not leave by itself on the logout:
        # this test is about the form it then sends. (A group page's stream has a query: ?rows=brief.)
        await tab2.route(re.compile(r"/downloads/events(\?|$)"), lambda route: route.abort())
        await ui_login(tab1, node)
        await tab2.goto(url(node, "/groups/team"))
        tab1.once("dialog", lambda dialog: dialog.accept())
        await tab1.get_by_role("button", name=re.compile("Log out")).click()
        await expect(tab1.locator("h1")).to_have_text("Log in")
        await tab2.fill("#share-path", str(world.files / "notes.txt"))
        await tab2.click("button:has-text('Share this file')")
        await expect(tab2.locator("h1")).to_have_text("Log in")  # not "this form has expired"
        await expect(tab2.locator("#toast")).to_contain_text("You were logged out (in another tab or window)")
        await tab2.fill("#user_id", node.name)
        await tab2.fill("#password", node.password)
        await tab2.click("form button[type=submit]:has-text('Log in')")
        await tab2.wait_for_url(url(node, "/groups/team"))  # back where the form was
    finally:
        await ctx.close()
        if node.api("/api/status")["user_id"] is None:
            node.ok(f"login {node.name} {node.password}")  # the other tests expect alice logged in
