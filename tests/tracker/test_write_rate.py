"""Rate limits on log writes (tracker_server/write_rate.py, buckets.py): a user's writes, logins per address and
successful logins per account. Refused with 429 + Retry-After in the API's error form, before anything is written;
the clock is the test's, so "sustained" is a clock advanced by hand, not a wait."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.security.tracker_app import Tracker, running_tracker
from tests.tracker.helpers import Api, Clock
from tracker_server.__main__ import _parse, build_config
from tracker_server.buckets import BucketPolicy, TokenBuckets
from tracker_server.keys import SERVICE
from tracker_server.write_rate import WritePolicy, WriteRate
from wire.errors import TooManyRequests

POLICY = WritePolicy()


# ---------------------------------------------------------------------------------------------- pure


def test_a_bucket_takes_its_burst_then_one_per_interval_and_spend_never_refuses() -> None:
    buckets = TokenBuckets(BucketPolicy(burst=3, interval=0.5), "too many")
    for _ in range(3):
        buckets.take("k", 100.0)
    with pytest.raises(TooManyRequests) as refused:
        buckets.take("k", 100.0)
    assert refused.value.retry_after == 1 and refused.value.message == "too many; try again in 1 s"
    buckets.take("k", 100.5)
    buckets.spend("k", 100.5)  # a cost already paid: no refusal, and no debt below zero
    assert buckets.tokens("k", 100.5) == 0.0 and buckets.tokens("k", 101.0) == 1.0


def test_wrong_passwords_cost_the_account_nothing_and_right_ones_are_limited() -> None:
    rate = WriteRate(WritePolicy(login_burst=2, login_interval=60.0, address_burst=100))
    for _ in range(50):
        rate.check_login("carol", "203.0.113.66", 0.0)
        rate.spend_login("carol", "203.0.113.66", False, 0.0)  # an attacker's wrong guesses
    rate.check_login("carol", "198.51.100.7", 0.0)  # carol's own bucket is untouched
    for _ in range(2):
        rate.spend_login("carol", "198.51.100.7", True, 0.0)
    with pytest.raises(TooManyRequests) as refused:
        rate.check_login("carol", "198.51.100.7", 0.0)
    assert "this account" in refused.value.message and refused.value.retry_after == 60


# ---------------------------------------------------------------------------------------------- the tracker


async def _join_leave_until_refused(api: Api, token: str, limit: int) -> tuple[int, int, str | None, dict[str, str]]:
    """Join and leave g1 until refused; (writes accepted, log index after, Retry-After, the refusal's error)."""
    for done in range(limit):
        path = "/api/v1/groups/g1/join" if done % 2 == 0 else "/api/v1/groups/g1/leave"
        resp = await api.client.post(path, json={"op_id": uuid.uuid4().hex},
                                     headers={"Authorization": f"Bearer {token}"})
        if resp.status == 429:
            index = (await api.ok("GET", "/healthz"))["log_index"]
            return done, index, resp.headers.get("Retry-After"), (await resp.json())["error"]
        assert resp.status in (200, 202), await resp.text()
    raise AssertionError("never refused")


async def test_join_and_leave_in_a_loop_is_refused_after_the_burst_before_anything_is_written(
        api: Api, clock: Clock) -> None:
    owner, mallory, carol = await api.user("owner"), await api.user("mallory"), await api.user("carol")
    await api.ok("POST", "/api/v1/groups", {"group_id": "g1"}, owner, want=201)
    done, index, retry, error = await _join_leave_until_refused(api, mallory, 1000)
    assert done == POLICY.user_burst  # the audit's loop wrote 1,902 entries in 10 s
    assert error["code"] == "too_many_requests" and retry == "1"
    assert (await api.ok("GET", "/healthz"))["log_index"] == index  # the refusals wrote nothing
    assert (await api.call("POST", "/api/v1/groups/g1/join", {}, mallory))[0] == 429
    assert (await api.ok("GET", "/healthz"))["log_index"] == index
    await api.ok("POST", "/api/v1/groups/g1/join", {}, carol, want=202)  # another user is not slowed
    clock.advance(10 * POLICY.user_interval)  # sustained: one write per interval
    done, _, _, _ = await _join_leave_until_refused(api, mallory, 1000)
    assert done == 10


async def test_a_retry_of_an_answered_write_costs_nothing(api: Api) -> None:
    owner = await api.user("owner")
    await api.ok("POST", "/api/v1/groups", {"group_id": "g1"}, owner, want=201)
    mallory = await api.user("mallory")
    status, first = await api.call("POST", "/api/v1/groups/g1/join", {}, mallory, op_id="join-once")
    assert status == 202
    await api.ok("POST", "/api/v1/groups/g1/leave", {}, mallory)
    await _join_leave_until_refused(api, mallory, 1000)
    assert await api.call("POST", "/api/v1/groups/g1/join", {}, mallory, op_id="join-once") == (202, first)


async def test_successful_logins_per_account_are_limited(api: Api, clock: Clock) -> None:
    await api.user("alice")  # one login already
    for _ in range(int(POLICY.login_burst) - 1):
        await api.login("alice")
    status, body = await api.call("POST", "/api/v1/sessions", {"user_id": "alice", "password": "pw-alice",
                                                              "peer_addr": "127.0.0.1:6005"})
    assert status == 429 and "too many logins to this account" in body["error"]["message"]
    clock.advance(POLICY.login_interval)
    await api.login("alice")


@pytest.fixture
async def tracker(tmp_path: Path) -> AsyncIterator[Tracker]:
    async with running_tracker(tmp_path) as t:
        yield t


async def test_logins_are_limited_per_address_and_other_addresses_go_on(tracker: Tracker) -> None:
    assert tracker.server is not None
    tracker.server.app[SERVICE].writes = WriteRate(WritePolicy(address_burst=6))
    for name in ("u1", "u2", "u3"):
        await tracker.user(name)
    statuses = [(await tracker.login(name, f"pw-{name}"))[0] for name in ("u1", "u2") * 4]
    assert statuses == [200] * 6 + [429] * 2
    status, body, retry = await tracker.login("u1", "pw-u1")
    assert status == 429 and "from your address" in body["error"]["message"] and retry is not None
    assert (await tracker.login("u3", "pw-u3", source="127.0.0.2"))[0] == 200


def test_the_rate_options_reach_the_tracker_and_nonsense_is_refused(tmp_path: Path) -> None:
    list_file = tmp_path / "t.txt"
    list_file.write_text("127.0.0.1:7001\n", encoding="utf-8")
    base = [str(list_file), "1", "--data-dir", str(tmp_path / "d")]
    config = build_config(_parse([*base, "--write-burst", "500", "--write-interval", "0.01", "--address-hashes", "4"]))
    assert (config.write_burst, config.write_interval, config.hashes_per_address) == (500, 0.01, 4)
    default = build_config(_parse(base))
    assert (default.write_burst, default.write_interval, default.hashes_per_address) == (300, 0.5, 1)
    for bad in (["--write-burst", "0"], ["--write-interval", "0"], ["--address-hashes", "0"]):
        with pytest.raises(ValueError, match="write-burst"):
            build_config(_parse([*base, *bad]))
