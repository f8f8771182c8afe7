"""The upload limit between real nodes: set by flag or command, shown in /api/status, kept across restarts, and
held to while a member downloads."""

from __future__ import annotations

import shlex
import time
from typing import Any

from peer_node.swarm.pacer import BURST_SECONDS
from tests.integration.limit_setting import assert_the_limit_setting_outlives_restarts
from tests.support.cluster import FAST_NODE_ARGS, Cluster, MiB, group_with_members, make_file, sha256_file, wait_until
from wire.peer_protocol import MAX_BLOCK

RATE = 2_000_000


def test_a_limited_sharer_serves_within_its_limit_and_the_setting_outlives_a_restart(cluster: Cluster) -> None:
    alice = cluster.start_node("alice", (*FAST_NODE_ARGS, "--upload-limit", "2MB/s"))
    bob = cluster.start_node("bob")
    assert alice.api("/api/status")["upload_limit"] == RATE
    assert bob.api("/api/status")["upload_limit"] is None
    alice.login()
    bob.login()
    group_with_members(alice, [bob], "lab")
    size = 4 * MiB
    src = make_file(cluster.tmp / "share" / "data.bin", size, seed=11)
    alice.ok(f"upload_file {shlex.quote(str(src))} lab")

    dest = cluster.tmp / "dl"
    dest.mkdir()
    t0 = time.monotonic()
    bob.ok(f"download_file lab data.bin {shlex.quote(str(dest))}")
    bob.wait_download("data.bin")
    elapsed = time.monotonic() - t0
    assert sha256_file(dest / "data.bin") == sha256_file(src)
    # An invariant of the limit, whatever the machine's speed: alice alone sent every byte, so no faster than
    # her rate allows over the time it took (plus one burst and one block).
    assert alice.api("/api/status")["bytes_sent_by_user"] == {"bob": size}
    assert size <= RATE * (elapsed + BURST_SECONDS) + MAX_BLOCK
    alice.ok("logout")  # who fetched what from alice is hers: not shown to the next user of the node
    alice.ok(f"login alice {shlex.quote(alice.password)}")
    assert alice.api("/api/status")["bytes_sent_by_user"] == {}

    assert_the_limit_setting_outlives_restarts(
        alice, "upload", "upload limit removed: this node uploads as fast as its peers take\n", "1G", 10**9)


def test_a_download_from_a_slow_peer_shows_its_speed_before_the_first_piece_is_whole(cluster: Cluster) -> None:
    # 4 MiB pieces (four 1 MiB blocks) at 200 kB/s: a piece is whole only after some 20 s; the row showed "0 B/s"
    # all that time though blocks were arriving
    alice = cluster.start_node("alice", ("--piece-size", str(4 * MiB), "--upload-limit", "200k", "--tracker-timeout",
                                         "3"))
    bob = cluster.start_node("bob")
    for n in (alice, bob):
        n.login()
    group_with_members(alice, [bob], "lab")
    src = make_file(cluster.tmp / "share" / "slow.bin", 8 * MiB, seed=12)
    alice.ok(f"upload_file {shlex.quote(str(src))} lab")
    dest = cluster.tmp / "dl"
    dest.mkdir()
    bob.ok(f"download_file lab slow.bin {shlex.quote(str(dest))}")

    def moving() -> dict[str, Any] | None:
        view = bob.downloads()["slow.bin"]
        return view if view["speed_bps"] > 0 else None

    seen = wait_until(moving, 30, "a speed to show")
    assert seen["bytes_done"] == 0, seen  # the speed came before any piece was whole
    bob.ok("remove_download lab slow.bin")
