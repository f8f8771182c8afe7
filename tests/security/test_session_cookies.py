"""A browser session ends at every logout of its user, whoever asks for it: the browser's Log out, /cmd or the
console. A cookie copied elsewhere (loopback cookies reach every port: SECURITY.md) must not come back to life at
the user's next login."""

from __future__ import annotations

from tests.security.live_node import World, browser_login


async def test_a_logout_from_cmd_ends_the_browser_session_for_good(world: World) -> None:
    await browser_login(world)
    assert (await world.node.get("/groups", allow_redirects=False)).status == 200
    assert (await world.cmd("logout"))[0] == 200
    assert (await world.node.get("/groups", allow_redirects=False)).status == 303  # to the login page
    assert (await world.cmd("login alice pw-alice"))[0] == 200  # the same user, back on this node
    resp = await world.node.get("/groups", allow_redirects=False)
    assert resp.status == 303 and resp.headers["Location"].startswith("/login")  # the old cookie stays dead
    await browser_login(world)  # a new browser login works
    assert (await world.node.get("/groups", allow_redirects=False)).status == 200


async def test_a_form_sent_after_a_logout_by_command_says_why_and_comes_back_to_its_page(world: World) -> None:
    await browser_login(world)
    token = await world.csrf_of("/groups/g1")
    assert (await world.cmd("logout"))[0] == 200  # from a script: the browser's tab does not know
    resp = await world.node.post("/groups/g1/share", data={"csrf_token": token, "path": "/tmp/x"},
                                 allow_redirects=False,
                                 headers={"Origin": world.origin, "Referer": f"{world.origin}/groups/g1"})
    assert resp.status == 303
    # the login page says the session ended elsewhere, and leads back to the page the form was on, not home
    assert resp.headers["Location"] == "/login?why=elsewhere&next=/groups/g1"
    page = await (await world.node.get(resp.headers["Location"])).text()
    assert "You were logged out elsewhere" in page
