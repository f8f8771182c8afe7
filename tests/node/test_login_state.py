"""What the node keeps about its login: the session's fingerprint and the offline check of the password, whose
guesses are throttled."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from peer_node import login_state
from wire.errors import TooManyRequests


def test_the_kept_check_accepts_the_password_refuses_others_and_knows_nothing_of_other_users(tmp_path: Path) -> None:
    assert login_state.matches(tmp_path, "alice", "alice-pw-1") is None  # nothing kept yet
    login_state.remember(tmp_path, "alice", "alice-pw-1")
    assert (tmp_path / login_state.CHECK_FILE).stat().st_mode & 0o777 == 0o600
    assert "alice-pw-1" not in (tmp_path / login_state.CHECK_FILE).read_text()  # a salted hash, not the password
    assert login_state.matches(tmp_path, "alice", "alice-pw-1") is True
    assert login_state.matches(tmp_path, "alice", "alice-pw-2") is False
    assert login_state.matches(tmp_path, "bob", "alice-pw-1") is None
    login_state.forget(tmp_path)
    assert login_state.matches(tmp_path, "alice", "alice-pw-1") is None


def test_a_hostile_or_damaged_check_is_ignored_not_hashed_for_minutes(tmp_path: Path) -> None:
    login_state.remember(tmp_path, "alice", "pw-alice-1")
    path = tmp_path / login_state.CHECK_FILE
    doc = json.loads(path.read_text())
    path.write_text(json.dumps({**doc, "n": 2**30}))
    assert login_state.matches(tmp_path, "alice", "pw-alice-1") is None
    path.write_text("{not json")
    assert login_state.matches(tmp_path, "alice", "pw-alice-1") is None


def test_the_session_fingerprint_round_trips(tmp_path: Path) -> None:
    assert login_state.fingerprint_matches(tmp_path, "")  # sessions from before TLS registered none
    login_state.record_fingerprint(tmp_path, "ab" * 32)
    assert login_state.fingerprint_matches(tmp_path, "ab" * 32)
    assert not login_state.fingerprint_matches(tmp_path, "cd" * 32)


async def test_wrong_passwords_at_the_offline_check_lock_it_for_doubling_waits(tmp_path: Path) -> None:
    login_state.remember(tmp_path, "alice", "alice-pw-1")
    now = [1000.0]
    check = login_state.OfflineCheck(tmp_path, clock=lambda: now[0])
    for i in range(5):  # the free ones, as the tracker allows
        assert await check.matches("alice", f"guess-{i}") is False
    with pytest.raises(TooManyRequests) as locked:
        await check.matches("alice", "alice-pw-1")  # even the right one: refused before any hashing
    assert locked.value.retry_after == 1
    now[0] += 1.5
    assert await check.matches("alice", "guess-5") is False  # one more failure past the free ones: twice as long
    with pytest.raises(TooManyRequests) as longer:
        await check.matches("alice", "alice-pw-1")
    assert longer.value.retry_after == 2
    now[0] += 2.5
    assert await check.matches("alice", "alice-pw-1") is True  # the wait over, the right password is let in
    for i in range(5):  # ... and it starts the count again
        assert await check.matches("alice", f"again-{i}") is False
    with pytest.raises(TooManyRequests):
        await check.matches("alice", "guess-again")
