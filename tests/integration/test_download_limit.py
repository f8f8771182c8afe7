"""The download limit between real nodes: set by flag or command, shown in /api/status beside the upload limit,
kept across restarts, and held to while the node downloads."""

from __future__ import annotations

import shlex
import time

from tests.integration.limit_setting import assert_the_limit_setting_outlives_restarts
from tests.support.cluster import FAST_NODE_ARGS, Cluster, MiB, group_with_members, make_file, sha256_file

RATE = 1_000_000


def test_a_limited_downloader_fetches_within_its_limit_and_the_setting_outlives_a_restart(cluster: Cluster) -> None:
    alice = cluster.start_node("alice")
    bob = cluster.start_node("bob", (*FAST_NODE_ARGS, "--download-limit", "1MB/s"))
    assert bob.api("/api/status")["download_limit"] == RATE
    assert bob.api("/api/status")["upload_limit"] is None  # the two limits are apart
    assert alice.api("/api/status")["download_limit"] is None
    alice.login()
    bob.login()
    group_with_members(alice, [bob], "lab")
    size = 4 * MiB  # 64 pieces of 64 KiB (FAST_NODE_ARGS): far more than the one the limit lets go at once
    src = make_file(cluster.tmp / "share" / "data.bin", size, seed=21)
    alice.ok(f"upload_file {shlex.quote(str(src))} lab")

    dest = cluster.tmp / "dl"
    dest.mkdir()
    t0 = time.monotonic()
    bob.ok(f"download_file lab data.bin {shlex.quote(str(dest))}")
    bob.wait_download("data.bin")  # [C], never [F]: a download held by the limit is not a stalled one
    elapsed = time.monotonic() - t0
    assert sha256_file(dest / "data.bin") == sha256_file(src)
    # Time measured this way can only be longer than the limit makes it, never shorter: no flake on a slow machine.
    assert elapsed >= size / RATE * 0.8, elapsed
    assert alice.api("/api/status")["bytes_sent_by_user"] == {"bob": size}

    assert_the_limit_setting_outlives_restarts(
        bob, "download", "download limit removed: this node downloads as fast as its peers send\n", "2M", 2_000_000)
