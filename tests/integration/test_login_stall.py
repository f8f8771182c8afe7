"""A password check that a stalled tracker took and answered too late (an audit: the node said "logged in" and was
logged out moments later, when the tracker went on and the session it opened replaced the node's)."""

from __future__ import annotations

import json
import os
import shlex
import signal
from pathlib import Path

from tests.support.cluster import Cluster, wait_until


def session_token(data_dir: Path) -> str:
    doc = json.loads((data_dir / "session.json").read_text())
    return str(doc.get("session", ""))


def test_a_login_a_stalled_tracker_applies_later_leaves_the_node_logged_in_under_its_new_session(
        tmp_path: Path) -> None:
    with Cluster(tmp_path) as c:
        tracker = c.start_tracker(1)
        alice = c.start_node("alice")
        alice.login()
        alice.ok("create_group lab")
        before = session_token(alice.data_dir)
        os.killpg(tracker.popen.pid, signal.SIGSTOP)  # the kernel still takes connections: the login is queued
        try:
            # Answered by the node's own check of the password once the tracker's 3 s are up.
            status, text = alice.cmd(f"login alice {shlex.quote(alice.password)}")
        finally:
            os.killpg(tracker.popen.pid, signal.SIGCONT)
        assert (status, text.strip()) == (200, "logged in as alice")
        # The tracker now opens the session it was asked for, ending the node's; the node's next call (a heartbeat)
        # hears 401 and takes that session over instead of logging out.
        after = wait_until(lambda: (token := session_token(alice.data_dir)) != before and token, 30,
                           "the node to go on under the session the late login opened")
        assert after
        assert "lab" in alice.ok("list_groups")
        assert session_token(alice.data_dir) == after
        assert alice.proc is not None
        assert "replaced our session: going on with the session it opened" in alice.proc.log_tail(40)
