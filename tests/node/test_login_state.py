"""What the node keeps about its login: the session's fingerprint and the offline check of the password."""

from __future__ import annotations

import json
from pathlib import Path

from peer_node import login_state


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
