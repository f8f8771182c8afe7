"""Attack: password guessing against the tracker. Failed logins are throttled per (account, address) pair, per
address and account-wide for unknown addresses (429 with Retry-After, before any password hashing), the records
survive a restart because they are log entries (so a new primary after a failover has them too), and other users on
other addresses are not locked out. The lockout redesign itself: tests/tracker/test_lockout_policy.py."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from tests.security.tracker_app import Tracker
from tests.tracker.helpers import SECRET
from tracker_server.cluster_auth import cluster_key
from tracker_server.keys import SERVICE, STORE
from tracker_server.throttle import RegistrationGate, client_address, sign_client
from wire.errors import Unavailable
from wire.login_throttle import (
    Failures,
    LoginThrottle,
    ThrottlePolicy,
    address_key,
    apply_records,
)

Login = Callable[..., Awaitable[tuple[int, dict[str, Any], str | None]]]


async def test_a_thousand_bad_logins_are_throttled_and_another_user_elsewhere_still_logs_in(tracker: Tracker) -> None:
    await tracker.user("alice")
    await tracker.user("bob")
    answers: list[tuple[int, dict[str, Any], str | None]] = []
    for _ in range(10):  # 1,000 guesses in bursts of 100 concurrent requests
        answers += await asyncio.gather(*(tracker.login("alice", f"guess-{i}") for i in range(100)))
    statuses = [status for status, _, _ in answers]
    assert set(statuses) == {401, 429}
    assert statuses.count(401) == ThrottlePolicy().free_per_account  # only these were hashed at all
    throttled = [(body, retry) for status, body, retry in answers if status == 429]
    # The lock's own code (a node tells it at once), or the hasher's one-at-a-time (a node waits that out)
    assert all(body["error"]["code"] in ("login_locked", "too_many_requests") and retry is not None
               and int(retry) >= 1 for body, retry in throttled)
    assert any(body["error"]["code"] == "login_locked" for body, _ in throttled)
    status, body, _ = await tracker.login("bob", "pw-bob", source="127.0.0.2")
    assert status == 200 and body["user_id"] == "bob"
    # From the attacking address even the right password waits out the lock: guessing it would otherwise pay.
    assert (await tracker.login("alice", "pw-alice"))[0] == 429
    # But the lock is the (alice, attacker's address) pair's: alice elsewhere is not denied (it used to be 429).
    assert (await tracker.login("alice", "pw-alice", source="127.0.0.2"))[0] == 200


async def test_one_address_spraying_many_accounts_is_throttled_by_address(tracker: Tracker) -> None:
    await tracker.user("carol")
    free = ThrottlePolicy().free_per_address
    statuses = [(await tracker.login(f"victim{i}", "123456"))[0] for i in range(free + 5)]
    assert statuses[:free] == [401] * free and set(statuses[free:]) == {429}
    assert (await tracker.login("carol", "pw-carol"))[0] == 429  # that address is locked out for now
    assert (await tracker.login("carol", "pw-carol", source="127.0.0.2"))[0] == 200


async def test_the_lock_survives_a_restart_and_lapses_with_time(tracker: Tracker) -> None:
    await tracker.user("dave")
    for i in range(ThrottlePolicy().free_per_account):
        assert (await tracker.login("dave", f"wrong{i}"))[0] == 401
    await tracker.stop()
    await tracker.start()  # same SQLite file: the failures were log entries
    status, _, retry = await tracker.login("dave", "pw-dave")
    assert status == 429 and retry is not None
    tracker.clock.advance(int(retry))
    assert (await tracker.login("dave", "pw-dave"))[0] == 200


async def test_failed_logins_are_replicated_log_entries(tracker: Tracker) -> None:
    assert (await tracker.login("nobody", "x"))[0] == 401
    assert tracker.server is not None
    store = tracker.server.app[STORE]
    kinds = [entry.op["t"] for entry in await store.entries_after(0)]
    assert kinds == ["login_fail"]  # shipped to secondaries like every other entry: a failover keeps it


async def test_copies_of_one_failed_attempt_count_once_and_a_reused_op_id_buys_no_guess(tracker: Tracker) -> None:
    # A node asks a second tracker when the first is slow (hedging), with the same op_id and password: both copies
    # reach the primary. Each used to be logged as a failure of its own, so one typo cost two of the free five.
    await tracker.user("gina")
    assert tracker.server is not None
    svc = tracker.server.app[SERVICE]
    pair = svc.throttle.keys("gina", "127.0.0.1")[-1]
    answers = await asyncio.gather(*(tracker.login("gina", "typo", op_id="attempt-1") for _ in range(2)))
    # side by side, one may be told to wait while the other's password is checked (429, which the node waits out)
    assert sorted(status for status, _, _ in answers) in ([401, 401], [401, 429])
    assert (await tracker.login("gina", "typo", op_id="attempt-1"))[0] == 401  # a copy after that wait
    assert svc.state.login_failures[pair].count == 1
    # ... but an op_id sent again with another password is another guess, counted like any other
    assert (await tracker.login("gina", "guess-2", op_id="attempt-1"))[0] == 401
    assert svc.state.login_failures[pair].count == 2
    assert (await tracker.login("gina", "pw-gina", op_id="attempt-2"))[0] == 200


async def test_a_forged_client_address_header_is_ignored(tracker: Tracker) -> None:
    await tracker.user("erin")
    forged = {"X-GS-Client": f"10.9.9.9 {int(time.time())}", "X-GS-Client-Signature": "0" * 64}
    for i in range(ThrottlePolicy().free_per_address):
        await tracker.login(f"x{i}", "bad", headers=forged)
    # Counted against the real address, so the forged header bought nothing.
    assert (await tracker.login("erin", "pw-erin", headers=forged))[0] == 429


def test_only_a_correctly_signed_fresh_client_header_is_believed() -> None:
    key, now = cluster_key(SECRET), 1_800_000_000.0
    signed = sign_client(key, "203.0.113.7", now, b"{}")
    assert client_address(signed, "127.0.0.1", key, now, b"{}") == "203.0.113.7"
    assert client_address(signed, "127.0.0.1", key, now + 3600, b"{}") == "127.0.0.1"  # stale: a replay
    assert client_address(signed, "127.0.0.1", cluster_key(b"other secret"), now, b"{}") == "127.0.0.1"
    tampered = {**signed, "X-GS-Client": signed["X-GS-Client"].replace("203.0.113.7", "203.0.113.8")}
    assert client_address(tampered, "127.0.0.1", key, now, b"{}") == "127.0.0.1"
    # Bound to the body: seen on the wire, the header cannot be replayed on another request.
    assert client_address(signed, "127.0.0.1", key, now, b'{"op_id": "other"}') == "127.0.0.1"


def test_locks_double_are_capped_and_quiet_keys_are_forgotten() -> None:
    policy = ThrottlePolicy(free_per_account=2, base_delay=1.0, max_delay=8.0, forget_after=100.0)
    records: dict[str, Failures] = {}
    throttle = LoginThrottle(records, policy)
    keys = throttle.keys("u1", "::ffff:192.0.2.1")
    assert keys[1] == "a:192.0.2.1" and keys[2].startswith("p:")
    locks = []
    for _ in range(7):
        op = throttle.failure_op(keys, 0.0)
        locks.append(op["rec"][keys[2]][2])
        records.update({k: Failures.from_json(v) for k, v in op["rec"].items()})
    assert locks == [0.0, 1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    assert throttle.retry_after(keys, 1.0) == 7.0
    assert throttle.retry_after(keys, 9.0) is None
    assert throttle.failure_op(keys, 500.0)["rec"][keys[2]][0] == 1  # forgotten after a quiet spell


def test_ipv6_addresses_count_by_their_slash_64() -> None:
    assert address_key("2001:db8::1") == address_key("2001:db8::ffff:1") == "a:2001:db8::/64"


def test_stale_records_are_dropped_as_new_failures_come_in() -> None:
    records: dict[str, Failures] = {}
    throttle = LoginThrottle(records, ThrottlePolicy(forget_after=100.0))
    for i in range(50):  # a spray of accounts, each tried once, long ago
        apply_records(records, throttle.failure_op([f"u:victim{i}"], float(i)))
    assert len(records) == 50
    for i in range(3):
        apply_records(records, throttle.failure_op(["u:someone", "a:192.0.2.1"], 1000.0 + i))
    assert set(records) == {"u:someone", "a:192.0.2.1"}


async def test_dropped_records_are_dropped_from_sqlite_too(tracker: Tracker) -> None:
    assert (await tracker.login("ghost", "x"))[0] == 401
    tracker.clock.advance(ThrottlePolicy().forget_after + 1)
    assert (await tracker.login("ghost2", "x", source="127.0.0.2"))[0] == 401
    await tracker.stop()
    await tracker.start()
    assert tracker.server is not None
    svc = tracker.server.app[SERVICE]
    assert set(svc.state.login_failures) == set(svc.throttle.keys("ghost2", "127.0.0.2"))


def test_the_registration_gate_admits_its_limit_and_refuses_more() -> None:
    gate = RegistrationGate(limit=2)
    with gate.enter(), gate.enter(), pytest.raises(Unavailable), gate.enter():
        pass
    with gate.enter():
        assert gate.in_flight == 1


async def test_sign_ups_beyond_the_gate_get_503_while_logins_go_on(tracker: Tracker) -> None:
    await tracker.user("frank")
    assert tracker.server is not None
    tracker.server.app[SERVICE].registrations = RegistrationGate(limit=0)  # as if 32 sign-ups were hashing
    status, body, _ = await tracker.post("/users", {"user_id": "newcomer", "password": "pw"})
    assert status == 503 and body["error"]["code"] == "unavailable"
    assert (await tracker.login("frank", "pw-frank"))[0] == 200
