"""A browser upload shows how much has gone, can be cancelled (nothing is kept or shared), a refusal says why in
the form, the page and the chosen file kept, and when it ends the page says what was shared, as the plain form's
answer does."""

from __future__ import annotations

import asyncio

import pytest
from playwright.async_api import Dialog, FilePayload, Page, expect

from tests.browser.helpers import World, ensure_logged_in, url
from tests.support.cluster import make_file

pytestmark = pytest.mark.browser


async def test_an_upload_shows_its_progress_can_be_cancelled_and_then_completes(page: Page, world: World) -> None:
    alice = world.alice
    src = make_file(world.files / "progress" / "lecture.bin", 3_000_000, 12)
    await ensure_logged_in(page, alice)
    await page.goto(url(alice, "/groups/zeta"))
    cdp = await page.context.new_cdp_session(page)
    await cdp.send("Network.enable")
    await cdp.send("Network.emulateNetworkConditions", {  # a slow uplink: the upload takes a while
        "offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": 100_000})
    form = page.locator("form[data-upload]")
    await page.set_input_files("#upload-file", str(src))
    async with page.expect_request(lambda r: r.url.endswith("/groups/zeta/upload")) as sent:
        await page.get_by_role("button", name="Upload and share").click()
    assert (await sent.value).headers.get("x-upload-progress") == "1"
    await expect(form.locator("[data-upload-words]")).to_contain_text(" of 3.0 MB sent")
    await expect(form.locator("progress")).to_be_visible()
    asked: asyncio.Queue[str] = asyncio.Queue()

    async def stay(dialog: Dialog) -> None:
        await dialog.dismiss()
        asked.put_nowait(dialog.type)

    page.on("dialog", stay)
    await page.locator("nav").get_by_role("link", name="Downloads").click()  # leaving would cut the upload off
    assert await asyncio.wait_for(asked.get(), 10) == "beforeunload"
    page.remove_listener("dialog", stay)
    await expect(form.locator("[data-upload-words]")).to_contain_text(" of 3.0 MB sent")  # stayed: still going
    await form.get_by_role("button", name="Cancel upload").click()
    await expect(form.locator("[data-upload-said]")).to_have_text("Upload cancelled. Nothing was shared.")
    await expect(form.locator("progress")).to_be_hidden()
    await expect(page.get_by_role("button", name="Upload and share")).to_be_enabled()
    assert "lecture.bin" not in alice.ok("list_files zeta")

    await cdp.send("Network.emulateNetworkConditions", {
        "offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1})
    bad_name: FilePayload = {"name": "tab\there.txt", "mimeType": "text/plain", "buffer": b"x"}
    await page.set_input_files("#upload-file", files=[bad_name])
    await page.evaluate("window.sameDocument = true")
    await page.get_by_role("button", name="Upload and share").click()  # refused: the form says why
    error = page.locator("#upload-error")
    await expect(error).to_contain_text("control character")
    await expect(error).to_have_attribute("role", "alert")
    await expect(page.locator("#upload-file")).to_be_focused()
    await expect(page.locator("#upload-file")).to_have_attribute("aria-describedby", "upload-error")
    assert await page.evaluate("window.sameDocument === true")  # not a new page: nothing else on it was lost
    assert await page.evaluate("document.querySelector('#upload-file').files[0].name") == "tab\there.txt"

    await page.locator("form[data-upload] input[name=csrf_token]").evaluate("i => i.value = 'stale'")
    await page.set_input_files("#upload-file", str(src))
    await page.get_by_role("button", name="Upload and share").click()  # a form of an older session: said so too
    await expect(error).to_contain_text("This form has expired")
    await expect(page.locator("#upload-error")).to_have_count(1)  # one error at a time
    assert "lecture.bin" not in alice.ok("list_files zeta")

    await page.reload()
    await page.set_input_files("#upload-file", str(src))
    await page.get_by_role("button", name="Upload and share").click()
    await expect(page.locator("#toast")).to_contain_text("Uploaded and sharing lecture.bin with zeta.")
    await page.wait_for_url(url(alice, "/groups/zeta#share"))  # back at the form, its heading focused
    await expect(page.locator("h2#share")).to_be_focused()
    assert "lecture.bin\t3000000\t" in alice.ok("list_files zeta")
    alice.ok("stop_share zeta lecture.bin")

