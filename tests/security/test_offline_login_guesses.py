"""Attack: guessing the node's password at its browser login while no tracker answers. The node then checks the
password itself (``login_state``), and throttles wrong guesses as the tracker does: a locked login is refused, even
with the right password, and says how long to wait."""

from __future__ import annotations

from peer_node.app import SERVICE
from tests.security.live_node import World
from wire.login_throttle import ThrottlePolicy


async def _login(world: World, password: str) -> tuple[int, str]:
    resp = await world.node.post("/login", data={"user_id": "alice", "password": password,
                                                 "csrf_token": await world.csrf_of("/login")},
                                 headers={"Origin": world.origin}, allow_redirects=False)
    return resp.status, await resp.text()


async def test_wrong_passwords_while_no_tracker_answers_lock_the_browser_login(world: World) -> None:
    await world.tracker.close()
    # Locks of a minute, not a second: a slow machine between two posts must not see the lock end already.
    world.node.app[SERVICE].offline_check.throttle.policy = ThrottlePolicy(base_delay=60.0)
    for i in range(5):
        status, page = await _login(world, f"guess-{i}")
        assert status == 401 and "do not match" in page, page
    status, page = await _login(world, "pw-alice")  # the right one, too soon
    assert status == 401
    assert "Too many wrong passwords for alice. Wait 60 seconds, then try again." in page
    assert "do not match" not in page
