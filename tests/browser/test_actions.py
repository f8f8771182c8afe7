"""Every command of the contract's table has a browser door: share by path, stop sharing, reject a request,
choose the download folder (with its error in words), leave a group (the last member's leave deletes it).
create/join/accept/upload/download and login/logout are driven in test_story.py and test_security.py.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
from pathlib import Path

import pytest
from playwright.async_api import Browser, Dialog, Page, expect

from tests.browser.helpers import World, ensure_logged_in, on_page, ui_create_group, ui_login, url
from tests.support.cluster import group_with_members, wait_until

pytestmark = pytest.mark.browser


async def test_share_by_path_then_stop_sharing(page: Page, world: World) -> None:
    alice = world.alice
    await ensure_logged_in(page, alice)
    await page.goto(url(alice, "/groups/zeta"))
    await page.fill("#share-path", str(world.files / "missing.txt"))
    await page.click("button:has-text('Share this file')")
    await expect(page.locator("#share-error")).to_contain_text("There is no file at")
    await page.fill("#share-path", str(world.files / "notes.txt"))
    await page.click("button:has-text('Share this file')")
    await expect(on_page(page, "Sharing notes.txt with zeta.")).to_be_visible()
    shares = page.locator("section[aria-labelledby=my-shares] li.row", has_text="notes.txt")
    await expect(shares).to_have_count(1)
    await shares.get_by_role("button", name="Stop sharing notes.txt").click()
    await expect(on_page(page, "Stopped sharing notes.txt.")).to_be_visible()
    await expect(page.locator("section[aria-labelledby=my-shares] li.row")).to_have_count(0)


async def test_a_share_whose_file_went_away_says_so_and_can_still_be_stopped(page: Page, world: World) -> None:
    alice = world.alice
    await ensure_logged_in(page, alice)
    src = world.files / "away.txt"
    src.write_text("on a drive that gets unplugged\n")
    await page.goto(url(alice, "/groups/zeta"))
    await page.fill("#share-path", str(src))
    await page.click("button:has-text('Share this file')")
    await expect(on_page(page, "Sharing away.txt with zeta.")).to_be_visible()
    src.unlink()  # the node's watch sees it within a few seconds
    row = page.locator("section[aria-labelledby=my-shares] li.row", has_text="away.txt")

    async def says_not_served() -> bool:
        await page.reload()
        return await row.get_by_text("Not served").count() == 1

    for _ in range(60):
        if await says_not_served():
            break
        await page.wait_for_timeout(500)
    await expect(row).to_contain_text(re.compile(  # when it went: the clock time the node found it gone
        r"Not served since \d\d:\d\d\. The file is gone \(moved or deleted\)\. It is served again once it is back"))
    await page.goto(url(alice, "/"))
    await expect(page.locator("section[aria-labelledby=my-shares]")).to_contain_text("Not served")
    await page.goto(url(alice, "/groups/zeta"))
    await row.get_by_role("button", name="Stop sharing away.txt").click()
    await expect(on_page(page, "Stopped sharing away.txt.")).to_be_visible()
    await expect(row).to_have_count(0)


async def test_owner_declines_a_request_in_one_click(page: Page, world: World) -> None:
    alice, carol = world.alice, world.carol
    await ensure_logged_in(page, carol)
    await page.goto(url(carol, "/groups/zeta"))
    await page.get_by_role("button", name="Ask to join zeta").click()
    await expect(on_page(page, "Request pending")).to_be_visible()
    await ensure_logged_in(page, alice)
    await page.goto(url(alice, "/groups/zeta"))
    await page.get_by_role("button", name="Decline carol").click()
    await expect(on_page(page, "Declined carol's request.")).to_be_visible()
    await expect(page.locator("#requests")).to_have_count(0)
    # carol is told, once, the next time her node lists the groups (before, the request just vanished)
    await ensure_logged_in(page, carol)  # her home page lists her groups
    await expect(page.locator("#toast")).to_contain_text("Your request to join zeta was declined.")
    await page.goto(url(carol, "/groups"))
    await expect(page.locator("a.name", has_text="zeta")).to_be_visible()
    await expect(page.locator("#toast")).to_be_hidden()


async def test_a_requester_is_told_when_the_owner_accepts(page: Page, world: World) -> None:
    alice, carol = world.alice, world.carol
    alice.ok("create_group welcome")
    carol.ok("join_group welcome")  # asked from the command line: the browser tells the answer all the same
    alice.ok("accept_request welcome carol")
    await ensure_logged_in(page, carol)  # her home page lists her groups
    await expect(page.locator("#toast")).to_contain_text("You are in welcome: your request to join was accepted.")
    carol.ok("leave_group welcome")  # as the other tests expect carol: in no group
    alice.ok("leave_group welcome")


async def test_a_request_to_a_group_deleted_and_made_again_is_not_told_as_declined(page: Page, world: World) -> None:
    alice, carol = world.alice, world.carol
    alice.ok("create_group remade")
    carol.ok("join_group remade")
    await ensure_logged_in(page, carol)
    await page.goto(url(carol, "/groups"))
    row = page.locator("li.row", has=page.locator("a.name", has_text=re.compile("^remade$")))
    await expect(row.locator(".badge")).to_have_text("Request pending")
    # Carol's node is stopped meanwhile: a listing between the two would rightly say the group is gone. The pause
    # lets a listing it asked for just before be answered first.
    os.kill(carol.pid, signal.SIGSTOP)
    try:
        await asyncio.sleep(0.3)
        alice.ok("leave_group remade")  # its last member: deleted, carol's request with it
        alice.ok("create_group remade")  # another group, under the same name: carol is "none" in it
    finally:
        os.kill(carol.pid, signal.SIGCONT)
    toast = page.locator("#toast")  # the open page hears it (it would have said "declined")
    await expect(toast).to_contain_text(
        "Group remade was deleted and a new group took its name, so your request to join it is closed")
    await expect(row.locator(".badge")).to_have_text("Group replaced")
    await expect(toast).not_to_contain_text("declined")
    alice.ok("leave_group remade")


async def test_an_open_page_hears_the_owners_answer_without_a_reload(page: Page, world: World) -> None:
    alice, carol = world.alice, world.carol
    alice.ok("create_group waiting")
    await ensure_logged_in(page, carol)
    await page.goto(url(carol, "/groups/waiting"))
    await page.get_by_role("button", name="Ask to join waiting").click()
    await expect(on_page(page, "Request pending")).to_be_visible()
    await page.evaluate("window.notReloaded = true")  # gone if the page were loaded again
    alice.ok("accept_request waiting carol")
    toast = page.locator("#toast")
    await expect(toast).to_contain_text("You are in waiting: your request to join was accepted.")
    assert await page.evaluate("window.notReloaded === true")
    await toast.get_by_role("link", name="Show the group").click()
    await expect(page.get_by_role("heading", name="Share a file")).to_be_visible()  # a member's page now
    alice.ok("create_group waiting2")
    alice.ok("create_group waiting3")
    carol.ok("join_group waiting2")
    carol.ok("join_group waiting3")
    await page.goto(url(carol, "/groups"))
    row2 = page.locator("li.row", has=page.locator("a.name", has_text=re.compile("^waiting2$")))
    row3 = page.locator("li.row", has=page.locator("a.name", has_text=re.compile("^waiting3$")))
    await expect(row3).to_contain_text("Request pending")
    alice.ok("reject_request waiting2 carol")
    await expect(toast).to_contain_text("Your request to join waiting2 was declined.")
    await expect(toast.get_by_role("link", name="Refresh this page")).to_be_visible()
    await expect(row2.locator(".badge")).to_have_text("Request declined")  # the row no longer says pending
    alice.ok("accept_request waiting3 carol")
    await expect(toast).to_contain_text("You are in waiting3: your request to join was accepted.")
    await expect(row3.locator(".badge")).to_have_text("Member")
    await expect(row3.locator("p.muted")).to_have_text("Owner alice · 2 members")
    alice.ok("leave_group waiting2")
    carol.ok("leave_group waiting3")
    alice.ok("leave_group waiting3")
    carol.ok("leave_group waiting")  # as the other tests expect carol: in no group
    alice.ok("leave_group waiting")


async def test_a_request_to_join_can_be_withdrawn(page: Page, world: World) -> None:
    alice, carol = world.alice, world.carol
    alice.ok("create_group mistake")
    await ensure_logged_in(page, carol)
    await page.goto(url(carol, "/groups/mistake"))
    await page.get_by_role("button", name="Ask to join mistake").click()
    await page.get_by_role("button", name="Withdraw request to join mistake").click()
    await expect(page.locator("#toast")).to_contain_text("You withdrew your request to join mistake.")
    assert alice.ok("list_requests mistake") == ""
    await page.goto(url(carol, "/groups/mistake"))
    await expect(page.get_by_role("button", name="Ask to join mistake")).to_be_visible()  # asking again works
    await expect(page.locator("#toast")).to_have_count(0)  # and no "declined" notice for it, ever
    alice.ok("leave_group mistake")


async def test_an_owners_open_page_hears_of_a_new_request_to_join(page: Page, world: World) -> None:
    alice, carol = world.alice, world.carol
    alice.ok("create_group newsroom")
    await ensure_logged_in(page, alice)
    await page.goto(url(alice, "/groups/newsroom"))
    await page.evaluate("window.notReloaded = true")
    count = page.locator("#pending-total")
    await expect(count).to_have_text("1 asking to join your groups")  # carol's request to join team, from before
    carol.ok("join_group newsroom")
    toast = page.locator("#toast")
    await expect(toast).to_contain_text("A new request to join newsroom.")
    await expect(count).to_have_text("2 asking to join your groups")
    nav = page.get_by_role("navigation", name="Main")  # the link's name follows, in words (no "Groups , 2")
    await expect(nav.get_by_role("link", name="Groups, 2 asking to join your groups", exact=True)).to_be_visible()
    assert await page.evaluate("window.notReloaded === true")
    carol.ok("leave_group newsroom")  # she withdraws it: the notice no longer leads to an empty list
    await expect(toast).to_contain_text("No request to join newsroom is waiting any more")
    await expect(count).to_have_text("1 asking to join your groups")
    await expect(toast.get_by_role("link")).to_have_count(0)
    assert await page.evaluate("document.getElementById('toast').nextElementSibling.id") == "main"  # reached early
    await page.keyboard.press("Escape")  # closes a notice that came live, as it does the page's own
    await expect(toast).to_be_hidden()
    carol.ok("join_group newsroom")  # and asks again
    await expect(toast).to_contain_text("A new request to join newsroom.")
    await toast.get_by_role("link", name="Show the requests").click()
    await page.get_by_role("button", name="Decline carol").click()
    await expect(on_page(page, "Declined carol's request.")).to_be_visible()
    await expect(count).to_have_text("1 asking to join your groups")
    carol.ok("join_group newsroom")
    await page.goto(url(alice, "/groups/newsroom"))  # her request listed, with its Accept
    await expect(page.get_by_role("button", name="Accept carol")).to_be_visible()
    carol.ok("leave_group newsroom")  # withdrawn while the page lists it: no Accept left that cannot work
    await expect(toast).to_contain_text("No one is asking to join newsroom any more")
    await expect(page.get_by_role("button", name="Accept carol")).to_have_count(0)
    alice.ok("leave_group newsroom")


async def test_a_request_withdrawn_and_another_made_meanwhile_do_not_leave_the_owners_page_stale(
        page: Page, world: World) -> None:
    alice, bob, carol = world.alice, world.bob, world.carol
    alice.ok("create_group swapdesk")
    carol.ok("join_group swapdesk")
    try:
        await ensure_logged_in(page, alice)
        # The page's news stream is held off while carol withdraws and bob asks: both reach the page in one look,
        # with the same count as before (1), as when both happen between two polls.
        await page.route("**/downloads/events*", lambda route: route.abort())
        await page.goto(url(alice, "/groups/swapdesk"))
        await expect(page.get_by_role("button", name="Accept carol")).to_be_visible()
        carol.ok("leave_group swapdesk")
        bob.ok("join_group swapdesk")
        await page.unroute("**/downloads/events*")
        await expect(page.get_by_role("button", name="Accept carol")).to_have_count(0)  # no Accept that cannot work
        toast = page.locator("#toast")
        await toast.get_by_role("link").click()  # the notice leads to who asks now
        await expect(page.get_by_role("button", name="Accept bob")).to_be_visible()
    finally:
        bob.cmd("leave_group swapdesk")
        alice.ok("leave_group swapdesk")


async def test_a_group_page_and_the_count_beside_groups_agree_as_the_node_sends_them(page: Page,
                                                                                      world: World) -> None:
    alice, carol = world.alice, world.carol
    alice.ok("create_group pressroom")
    try:
        await ensure_logged_in(page, alice)

        async def sent(path: str) -> tuple[int, int]:
            """The count beside "Groups" and the requests listed, in the page as the node sent it (no live
            update yet)."""
            html = await (await page.request.get(url(alice, path))).text()
            count = re.search(r'id="pending-total"[^>]*>(\d+)<', html)
            assert count is not None, html
            return int(count.group(1)), html.count('Accept<span class="visually-hidden"> ')

        total, _ = await sent("/groups")  # the groups listed: the count is known
        carol.ok("join_group pressroom")
        assert await sent("/groups/pressroom") == (total + 1, 1)  # the page asked for this group's requests
        carol.ok("leave_group pressroom")
        assert await sent("/groups/pressroom") == (total, 0)
    finally:
        alice.ok("leave_group pressroom")


async def test_a_request_answered_elsewhere_leaves_no_stale_line_on_the_owners_open_groups_page(
        page: Page, world: World) -> None:
    alice, carol = world.alice, world.carol
    alice.ok("create_group desk")
    carol.ok("join_group desk")
    try:
        await ensure_logged_in(page, alice)
        await page.goto(url(alice, "/groups"))
        await page.evaluate("window.notReloaded = true")
        asking = page.locator("li.row a.attention-link", has_text="asking to join desk")
        await expect(asking).to_have_text("1 asking to join desk")
        alice.ok("accept_request desk carol")  # from a script, not this page
        await expect(asking).to_have_count(0)  # the row follows, without a reload
        world.bob.ok("join_group desk")  # a request where the row had none: its line comes too
        await expect(asking).to_have_text("1 asking to join desk")
        assert await page.evaluate("window.notReloaded === true")
    finally:
        world.bob.cmd("leave_group desk")
        carol.ok("leave_group desk")
        alice.ok("leave_group desk")


async def test_a_first_group_made_in_the_browser_brings_its_requests_live(page: Page, world: World) -> None:
    bob, carol = world.bob, world.carol
    await ensure_logged_in(page, bob)  # his home page lists his groups: he owns none
    await ui_create_group(page, bob, "bobs")
    await expect(page.locator("h1")).to_have_text("bobs")
    carol.ok("join_group bobs")
    await expect(page.locator("#toast")).to_contain_text("A new request to join bobs.")
    await expect(page.locator("#pending-total")).to_have_text("1 asking to join your groups")
    bob.ok("leave_group bobs")


async def test_download_folder_must_exist(page: Page, world: World) -> None:
    alice = world.alice
    await ensure_logged_in(page, alice)
    await page.goto(url(alice, "/groups/team"))
    await page.locator("details.folder > summary").click()
    await page.fill("#folder", "/no/such/folder")
    await page.click("button:has-text('Use this folder')")
    await expect(page.locator("#folder-error")).to_contain_text("The folder /no/such/folder does not exist")
    await page.fill("#folder", str(world.files / "notes.txt"))
    await page.click("button:has-text('Use this folder')")
    await expect(page.locator("#folder-error")).to_contain_text(f"{world.files / 'notes.txt'} is a file, not a folder.")
    await page.fill("#folder", "/proc/1")  # a folder, but nobody can save files there (not even root)
    await page.click("button:has-text('Use this folder')")
    await expect(page.locator("#folder-error")).to_contain_text("The node cannot write in /proc/1.")
    await page.fill("#folder", str(world.files))
    await page.click("button:has-text('Use this folder')")
    await expect(on_page(page, f"Downloads now go to {world.files}.")).to_be_visible()


async def test_leaving_the_last_membership_deletes_the_group(page: Page, world: World) -> None:
    alice = world.alice
    await ensure_logged_in(page, alice)
    await ui_create_group(page, alice, "shortlived")
    await expect(page.locator("h1")).to_have_text("shortlived")
    await page.locator("details.danger > summary").click()
    asked: list[str] = []

    async def answer(dialog: Dialog) -> None:
        asked.append(dialog.message)
        await (dialog.accept() if len(asked) > 1 else dialog.dismiss())

    page.on("dialog", answer)
    await page.get_by_role("button", name="Leave shortlived").click()  # asked, and "Cancel": nothing happens
    await expect(page.locator("h1")).to_have_text("shortlived")
    assert asked == ["Leave shortlived? You are its only member, so the group is deleted."]
    await page.get_by_role("button", name="Leave shortlived").click()
    await expect(on_page(page, "You left shortlived.")).to_be_visible()
    await expect(page.locator("a.name", has_text="shortlived")).to_have_count(0)


async def test_an_owner_accepts_everyone_the_page_listed_at_once(page: Page, world: World) -> None:
    alice, bob, carol = world.alice, world.bob, world.carol
    alice.ok("create_group intake")
    bob.ok("join_group intake")
    carol.ok("join_group intake")
    await ensure_logged_in(page, alice)
    await page.goto(url(alice, "/groups/intake"))
    carol.ok("leave_group intake")  # she withdraws her request while the page is open
    await page.get_by_role("button", name="Accept all 2").click()
    await expect(page.locator("#toast")).to_contain_text("bob is a member now. No longer waiting (withdrawn, or "
                                                         "answered elsewhere): carol.")
    members = page.locator("section[aria-labelledby=members] .name")
    await expect(members).to_have_count(2)
    assert "intake\talice\t2\tmember" in bob.ok("list_groups")
    bob.ok("leave_group intake")
    alice.ok("leave_group intake")


async def test_an_owner_is_asked_with_who_takes_over_and_what_the_members_lose(page: Page, world: World) -> None:
    alice = world.alice
    await ensure_logged_in(page, alice)
    await page.goto(url(alice, "/groups/team"))
    await page.locator("details.danger > summary").click()
    asked: list[str] = []

    async def dismiss(dialog: Dialog) -> None:
        asked.append(dialog.message)
        await dialog.dismiss()

    page.once("dialog", dismiss)
    await page.get_by_role("button", name="Leave team").click()
    await expect(page.locator("h1")).to_have_text("team")  # still in it
    assert len(asked) == 1
    assert asked[0].startswith("Leave team? bob becomes its owner. Your shares in it end, and the members lose ")
    assert "big.bin" in asked[0] and "notes.txt" not in asked[0]  # bob has a copy of notes.txt


async def test_many_groups_get_a_filter_that_works_with_and_without_script(browser: Browser, world: World) -> None:
    alice = world.alice
    labs = [f"lab-{i:02d}" for i in range(1, 10)]
    for gid in labs:
        alice.ok(f"create_group {gid}")
    try:
        for script in (True, False):
            ctx = await browser.new_context(java_script_enabled=script)
            try:
                page = await ctx.new_page()
                await ui_login(page, alice)
                await page.goto(url(alice, "/groups"))
                rows = page.locator("ul.rows li.row:visible")
                total = await rows.count()
                assert total >= len(labs) + 1
                if script:  # filters as the user types, ignoring case
                    await page.fill("#q", "LAB-0")
                else:  # the form's GET filters on the node
                    await page.fill("#q", "LAB-0")
                    await page.click("button:has-text('Find')")
                    await expect(page).to_have_url(url(alice, "/groups?q=LAB-0"))
                await expect(rows).to_have_count(len(labs))
                await expect(page.locator("#filter-count")).to_have_text(
                    f"{len(labs)} of {total} groups match “LAB-0”.")
                await page.fill("#q", "nothing-like-it")
                if not script:
                    await page.click("button:has-text('Find')")
                await expect(rows).to_have_count(0)
                await expect(on_page(page, "No group matches your search.")).to_be_visible()
            finally:
                await ctx.close()
    finally:
        for gid in labs:  # the other tests expect alice's few groups
            alice.ok(f"leave_group {gid}")


async def test_sharing_a_file_that_looks_private_asks_for_a_second_look(page: Page, world: World) -> None:
    alice = world.alice
    ssh = world.files / "home" / ".ssh"
    ssh.mkdir(parents=True, exist_ok=True)
    key = ssh / "id_ed25519"
    key.write_text("-----BEGIN OPENSSH PRIVATE KEY-----\n(not a real one)\n", encoding="utf-8")
    await ensure_logged_in(page, alice)
    await page.goto(url(alice, "/groups/zeta"))
    await page.fill("#share-path", str(key))
    await page.click("button:has-text('Share this file')")
    await expect(page.locator("#share-error")).to_contain_text("The file id_ed25519 looks private (in an SSH folder)")
    shares = page.locator("section[aria-labelledby=my-shares] li.row")
    await expect(shares).to_have_count(0)  # nothing shared yet
    await expect(page.locator("#share-path")).to_have_value(str(key))
    await page.get_by_label("Share it anyway").check()
    await page.click("button:has-text('Share this file')")
    await expect(on_page(page, "Sharing id_ed25519 with zeta.")).to_be_visible()
    await expect(shares).to_have_count(1)
    await shares.get_by_role("button", name="Stop sharing id_ed25519").click()
    await expect(shares).to_have_count(0)


async def test_many_files_get_the_same_filter(page: Page, world: World) -> None:
    alice = world.alice
    alice.ok("create_group course")
    try:
        for i in range(1, 10):
            lecture = world.files / f"Lecture-{i:02d}.txt"
            lecture.write_text(f"notes {i}\n", encoding="utf-8")
            alice.ok(f"upload_file {lecture} course")
        (world.files / "syllabus.txt").write_text("plan\n", encoding="utf-8")
        alice.ok(f"upload_file {world.files / 'syllabus.txt'} course")
        (world.files / "ΣΊΣΥΦΟΣ.txt").write_text("myth\n", encoding="utf-8")
        alice.ok(f"upload_file {world.files / 'ΣΊΣΥΦΟΣ.txt'} course")
        await ensure_logged_in(page, alice)
        await page.goto(url(alice, "/groups/course"))
        rows = page.locator("section[aria-labelledby=files] ul.rows li.row:visible")
        await expect(rows).to_have_count(11)
        await page.fill("#q", "lecture-0")  # as the user types, any case
        await expect(rows).to_have_count(9)
        await expect(page.locator("#filter-count")).to_have_text("9 of 11 files match “lecture-0”.")
        await page.fill("#q", "σίσυφος")  # any case, in any script: the final sigma as the node folds it
        await expect(rows).to_have_count(1)
        await page.goto(url(alice, "/groups/course?q=%CE%A3%CE%8A%CE%A3%CE%A5%CE%A6%CE%9F%CE%A3"))  # the same, GET
        await expect(rows).to_have_count(1)
        await page.goto(url(alice, "/groups/course"))
        await page.fill("#q", "07 lecture")  # every word, in any order
        await expect(rows).to_have_count(1)
        await expect(rows.first).to_contain_text("Lecture-07.txt")
        await page.goto(url(alice, "/groups/course?q=TXT+SYLL"))  # the same on the node, for a link or no script
        await expect(rows).to_have_count(1)
        await expect(rows.first).to_contain_text("syllabus.txt")
    finally:
        alice.ok("leave_group course")


async def test_a_form_s_address_opened_directly_leads_to_its_page(page: Page, world: World) -> None:
    alice = world.alice
    await ensure_logged_in(page, alice)
    for path, lands in (("/groups/team/share", "/groups/team"), ("/groups/team/requests/carol/accept", "/groups/team"),
                        ("/downloads/remove", "/downloads"), ("/logout", "/")):
        response = await page.goto(url(alice, path))
        assert response is not None and response.status == 200, path
        assert page.url == url(alice, lands), (path, page.url)
    await expect(page.locator("h1")).to_have_text("Hello, alice")  # a GET of /logout logs nobody out


async def test_accepting_a_request_withdrawn_meanwhile_says_so_instead_of_seeming_to_work(page: Page,
                                                                                      world: World) -> None:
    alice, carol = world.alice, world.carol
    alice.ok("create_group changed-mind")
    carol.ok("join_group changed-mind")
    await ensure_logged_in(page, alice)
    await page.goto(url(alice, "/groups/changed-mind"))
    accept = page.get_by_role("button", name="Accept carol")
    await expect(accept).to_be_visible()
    carol.ok("leave_group changed-mind")  # she withdraws it while the page is open
    await accept.click()
    error = page.locator("#page-error")
    await expect(error).to_contain_text("The request from carol to join changed-mind is no longer waiting: "
                                        "withdrawn, or answered elsewhere. Nothing changed.")
    await expect(error).to_be_focused()
    assert alice.ok("list_requests changed-mind") == ""
    alice.ok("leave_group changed-mind")


async def test_a_download_clicked_after_leaving_the_group_says_why_on_the_page_it_lands_on(page: Page,
                                                                                           world: World) -> None:
    alice, bob = world.alice, world.bob
    group_with_members(alice, [bob], "exile")
    alice.ok(f"upload_file {world.files / 'notes.txt'} exile")
    await ensure_logged_in(page, bob)
    await page.goto(url(bob, "/groups/exile"))
    download = page.get_by_role("button", name="Download notes.txt")
    await expect(download).to_be_visible()
    bob.ok("leave_group exile")  # in another tab, or by a script
    await download.click()
    await expect(page.locator("h1")).to_have_text("exile")
    error = page.locator("#page-error")  # the non-member's page has no row for the file: the error goes on top
    await expect(error).to_contain_text("Only members of exile may do that.")
    await expect(error).to_be_focused()
    alice.ok("leave_group exile")


async def test_a_share_sent_after_leaving_the_group_says_why_on_the_page_it_lands_on(page: Page,
                                                                                     world: World) -> None:
    alice, bob = world.alice, world.bob
    group_with_members(alice, [bob], "exile2")
    await ensure_logged_in(page, bob)
    await page.goto(url(bob, "/groups/exile2"))
    bob.ok("leave_group exile2")  # in another tab, or by a script
    await page.fill("#share-path", str(world.files / "notes.txt"))
    await page.click("button:has-text('Share this file')")
    await expect(page.locator("h1")).to_have_text("exile2")
    error = page.locator("#page-error")  # the non-member's page has no share form: the error goes on top
    await expect(error).to_contain_text("You are not a member of exile2.")
    await expect(error).to_be_focused()
    await page.wait_for_function("location.pathname === '/groups/exile2'")  # a reload asks for the page, afresh
    alice.ok("leave_group exile2")


async def test_leaving_says_beforehand_and_after_which_unfinished_downloads_it_stops(page: Page, world: World,
                                                                                      tmp_path: Path) -> None:
    alice, bob = world.alice, world.bob
    group_with_members(alice, [bob], "exile3")
    alice.ok(f"upload_file {world.files / 'notes.txt'} exile3")
    bob.ok(f"download_file exile3 notes.txt {tmp_path}")
    bob.wait_download("notes.txt")
    bob.ok("remove_download exile3 notes.txt")
    # A paused one: what leaving deletes (a complete one stays where it was saved)
    big = world.files / "exile3-paused.bin"
    big.write_bytes(os.urandom(3_000_000))
    alice.ok("set_upload_limit 10k")
    try:
        alice.ok(f"upload_file {big} exile3")
        bob.ok(f"download_file exile3 exile3-paused.bin {tmp_path}")
        wait_until(lambda: bob.downloads()["exile3-paused.bin"]["bytes_done"] > 0, 30, "bob's first piece")
        bob.ok("pause_download exile3 exile3-paused.bin")
    finally:
        alice.ok("set_upload_limit 0")
    assert sorted(os.listdir(tmp_path)) == [".exile3-paused.bin.gspart", "notes.txt"]
    await ensure_logged_in(page, bob)
    await page.goto(url(bob, "/groups/exile3"))
    await page.locator("details.danger > summary").click()
    asked: list[str] = []

    async def answer(dialog: Dialog) -> None:
        asked.append(dialog.message)
        await dialog.accept()

    page.on("dialog", answer)
    await page.get_by_role("button", name="Leave exile3").click()
    await expect(on_page(page, "You left exile3. Your download of exile3-paused.bin stopped and what it fetched "
                                  "was deleted.")).to_be_visible()
    assert asked == ["Leave exile3? Your shares in it end. Your download of exile3-paused.bin stops, and what it "
                     "fetched is deleted."]
    assert os.listdir(tmp_path) == ["notes.txt"]
    alice.ok("leave_group exile3")
    bob.ok("remove_download exile3 exile3-paused.bin")  # [F] "left the group": the next tests' lists start clean
