"""The login throttle's policy against targeted lockout (wire/login_throttle.py), as pure decisions with ``now``.

An attacker may lock only the (account, address) pairs they guess from; the account-wide guard against guessing
from many addresses refuses only addresses that never logged in to the account; one address spraying many
accounts is still locked by address, except at accounts it has logged in to."""

from __future__ import annotations

import pytest

from wire.errors import LoginLocked, TooManyRequests
from wire.login_throttle import Failures, LoginThrottle, ThrottlePolicy, apply_records, known_key

SECRET = b"cluster key"
OWNER_HOME, ATTACKER = "198.51.100.7", "203.0.113.66"


def _throttle(policy: ThrottlePolicy | None = None) -> tuple[dict[str, Failures], LoginThrottle]:
    records: dict[str, Failures] = {}
    return records, LoginThrottle(records, policy, secret=SECRET)


def _fail(throttle: LoginThrottle, user: str, address: str, now: float) -> bool:
    """One wrong password, if the throttle lets it be tried at all; True if it was."""
    keys = throttle.keys(user, address)
    if throttle.retry_after(keys, now) is not None:
        return False
    apply_records(throttle.records, throttle.failure_op(keys, now))
    return True


def _log_in(throttle: LoginThrottle, user: str, address: str, now: float) -> None:
    """A successful login, as the tracker records it (its pair's failures cleared, the pair remembered)."""
    keys = throttle.keys(user, address)
    throttle.check(keys, now)
    for key in throttle.clear_on_success(keys):
        del throttle.records[key]
    op = throttle.success_op(keys, now)
    if op is not None:
        apply_records(throttle.records, op)


def test_five_failures_from_one_address_do_not_lock_the_owner_out_from_another() -> None:
    _, throttle = _throttle()
    for i in range(ThrottlePolicy().free_per_account):
        assert _fail(throttle, "carol", ATTACKER, float(i))
    with pytest.raises(TooManyRequests) as locked:
        throttle.check(throttle.keys("carol", ATTACKER), 4.5)  # the attacker's pair is locked...
    # ...told as a lock (a node never waits that out), with the wait in its words for a script that sees no header
    assert isinstance(locked.value, LoginLocked) and locked.value.retry_after == 1
    assert locked.value.message == "too many failed logins; try again in 1 s"
    throttle.check(throttle.keys("carol", "192.0.2.10"), 4.5)  # ...carol at a new address is not (was 429)


def test_one_guess_at_every_lock_expiry_for_a_day_never_locks_the_owner_out() -> None:
    records, throttle = _throttle()
    now, guesses = 0.0, 0
    while now < 86400.0:
        if _fail(throttle, "carol", ATTACKER, now):
            guesses += 1
        wait = throttle.retry_after(throttle.keys("carol", ATTACKER), now)
        now += wait if wait is not None else 1.0
        # carol, at an address she never used, is never refused: one address cannot trip the account guard
        assert throttle.retry_after(throttle.keys("carol", "192.0.2.10"), now) is None
    assert guesses < 5 + 24 * 4 + 10  # the pair's lock still doubles to 15 minutes: a few guesses an hour
    account = records.get(throttle.keys("carol", ATTACKER)[0])  # counted for its free failures only, then forgotten
    assert account is None or account.count <= ThrottlePolicy().free_per_account


def test_guessing_from_many_addresses_locks_new_addresses_but_never_the_owners_usual_one() -> None:
    _, throttle = _throttle()
    _log_in(throttle, "carol", OWNER_HOME, 0.0)
    tried = sum(_fail(throttle, "carol", f"10.0.{i // 250}.{i % 250}", 10.0) for i in range(1000))
    assert tried == ThrottlePolicy().account_wide_free  # then every address that never logged in is refused
    with pytest.raises(TooManyRequests):
        throttle.check(throttle.keys("carol", "192.0.2.10"), 10.0)
    throttle.check(throttle.keys("carol", OWNER_HOME), 10.0)  # carol at home is not
    throttle.check(throttle.keys("dave", "10.0.0.1"), 10.0)  # nor another account from an attacking address


def test_the_account_guard_slows_a_thousand_addresses_to_a_few_guesses_an_hour() -> None:
    _, throttle = _throttle()
    now, guesses, addresses = 0.0, 0, [f"10.1.{i // 250}.{i % 250}" for i in range(1000)]
    while now < 3600.0:
        guesses += sum(_fail(throttle, "carol", address, now) for address in addresses[:50])
        addresses = addresses[50:] + addresses[:50]
        now += 5.0
    assert guesses < ThrottlePolicy().account_wide_free + 15  # the lock doubles to 15 min for them all


def test_the_owners_typos_at_home_never_trip_the_account_guard() -> None:
    records, throttle = _throttle()
    _log_in(throttle, "carol", OWNER_HOME, 0.0)
    for i in range(4):
        assert _fail(throttle, "carol", OWNER_HOME, 1.0 + i)
    assert "u:carol" not in records  # a known pair's failures count on its own record only
    _log_in(throttle, "carol", OWNER_HOME, 10.0)  # and her success clears them
    assert throttle.keys("carol", OWNER_HOME)[2] not in records


def test_a_sprayed_address_is_locked_except_at_accounts_it_logged_in_to() -> None:
    _, throttle = _throttle()
    _log_in(throttle, "carol", ATTACKER, 0.0)  # someone at that address (a shared NAT) is carol
    for i in range(ThrottlePolicy().free_per_address):
        assert _fail(throttle, f"victim{i}", ATTACKER, 1.0)
    with pytest.raises(TooManyRequests):
        throttle.check(throttle.keys("dave", ATTACKER), 1.0)  # spraying goes on being throttled
    throttle.check(throttle.keys("carol", ATTACKER), 1.0)  # carol, known there, is not caught by it


def test_a_known_pair_is_rewritten_at_most_daily_and_forgotten_after_remember_for() -> None:
    policy = ThrottlePolicy()
    records, throttle = _throttle(policy)
    keys = throttle.keys("carol", OWNER_HOME)
    assert throttle.success_op(keys, 0.0) is not None
    _log_in(throttle, "carol", OWNER_HOME, 0.0)
    assert throttle.success_op(keys, 3600.0) is None  # known and fresh: no entry at all
    assert throttle.success_op(keys, policy.refresh_known_after + 1) is not None
    assert throttle.known(keys, policy.remember_for - 1)
    assert not throttle.known(keys, policy.remember_for + 1)
    assert known_key(keys[2]) in records


def test_pairs_are_named_by_a_keyed_hash_not_by_the_address() -> None:
    _, throttle = _throttle()
    pair = throttle.keys("carol", "203.0.113.66")[2]
    assert "203.0.113" not in pair and "carol" not in pair
    assert pair != LoginThrottle({}, secret=b"another cluster").keys("carol", "203.0.113.66")[2]
    assert pair == throttle.keys("carol", "::ffff:203.0.113.66")[2]  # the address as the throttle counts it
    assert throttle.keys("carol", "2001:db8::1")[2] == throttle.keys("carol", "2001:db8::2")[2]  # one /64


def test_live_known_records_at_the_front_do_not_keep_stale_failures_for_ever() -> None:
    policy = ThrottlePolicy(forget_after=100.0)
    records, throttle = _throttle(policy)
    for i in range(40):  # users who logged in once, long before
        _log_in(throttle, f"user{i}", OWNER_HOME, 0.0)
    for i in range(50):  # a spray, long ago
        _fail(throttle, f"victim{i}", f"10.2.0.{i}", 1.0)
    for i in range(60):
        _fail(throttle, "someone", f"10.3.0.{i}", 1000.0 + i)
    stale = [key for key, record in records.items() if not key.startswith("k:") and record.last_at < 100.0]
    assert stale == []
    assert sum(key.startswith("k:") for key in records) == 40  # the known pairs stay
