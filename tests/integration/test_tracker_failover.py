"""The node follows the tracker cluster: when the primary dies, it carries on with the next tracker of the list."""

from __future__ import annotations

import shlex
import signal
from pathlib import Path

from tests.support.cluster import Cluster, MiB, group_with_members, make_file, sha256_file, wait_until


def test_node_fails_over_to_the_second_tracker_and_keeps_its_login(tmp_path: Path) -> None:
    with Cluster(tmp_path, trackers=2) as c:
        c.start_tracker(1)
        c.start_tracker(2)
        alice, bob = c.start_node("alice"), c.start_node("bob")
        alice.login()
        bob.login()
        group_with_members(alice, [bob], "g1")
        src = make_file(tmp_path / "share" / "f.bin", 2 * MiB, seed=5)
        alice.ok(f"upload_file {shlex.quote(str(src))} g1")
        assert alice.api("/api/status")["tracker_rank"] == 1

        c.trackers[1].stop(signal.SIGKILL)

        def create() -> bool:
            st, _text = alice.cmd("create_group g2", timeout=20)
            return st == 200

        wait_until(create, 30, "create_group to succeed on the surviving tracker", interval=0.5)
        status = alice.api("/api/status")
        assert status["tracker_rank"] == 2 and status["failed_over"] and status["user_id"] == "alice"
        assert "g2" in [ln.split("\t")[0] for ln in alice.ok("list_groups").splitlines()]
        # heartbeats reach the new primary: alice is a live seeder there and bob can download
        wait_until(lambda: "f.bin\t" in bob.ok("list_files g1"), 30, "f.bin listed by the new primary")
        bob.ok(f"download_file g1 f.bin {shlex.quote(str(tmp_path))}")
        bob.wait_download("f.bin", timeout=60)
        assert sha256_file(tmp_path / "f.bin") == sha256_file(src)
