"""A member downloading a file this node already holds whole gets it from that copy, with no other seeder online
(before, the download waited for some other node and failed with "no seeder reachable")."""

from __future__ import annotations

import shlex

from tests.support.cluster import Cluster, MiB, make_file, sha256_file


def test_the_sharer_downloads_its_own_file_elsewhere_with_nobody_else_online(cluster: Cluster) -> None:
    alice = cluster.start_node("alice")
    alice.login()
    alice.ok("create_group lab")
    src = make_file(cluster.tmp / "share" / "data.bin", 3 * MiB + 5, seed=11)
    alice.ok(f"upload_file {shlex.quote(str(src))} lab")
    dest = cluster.tmp / "elsewhere"
    dest.mkdir()

    alice.ok(f"download_file lab data.bin {shlex.quote(str(dest))}")
    view = alice.wait_download("data.bin")
    assert sha256_file(dest / "data.bin") == sha256_file(src)
    assert view["bytes_by_peer"] == {}  # no byte came from the network
    assert alice.ok("show_downloads") == "[C] lab data.bin\n"
    assert "pieces copied from" in cluster.logs()
