"""A node that stops cleanly tells the tracker: its members see it offline, and its files without it, at once
rather than one peer timeout later (the tracker here waits 60 s before it gives up on a silent node)."""

from __future__ import annotations

import signal
from pathlib import Path

from tests.support.cluster import Cluster, lab_pair, make_file, wait_until


def test_a_node_stopped_cleanly_is_offline_at_once_and_online_again_when_it_starts(tmp_path: Path) -> None:
    with Cluster(tmp_path / "c", tracker_args=("--scrypt-log2n", "10", "--peer-timeout", "60")) as c:
        alice, bob = lab_pair(c)
        src = make_file(tmp_path / "notes.bin", 200_000, 3)
        alice.ok(f"upload_file {src} lab")
        assert "notes.bin\t" in bob.ok("list_files lab")
        alice.kill(signal.SIGTERM)
        wait_until(lambda: bob.ok("list_files lab") == "", 20, "alice's file to go with her node")
        alice.start()  # still logged in: its first heartbeat brings it and its file back
        wait_until(lambda: "notes.bin\t" in bob.ok("list_files lab"), 30, "alice's file to come back")

