"""A flash crowd between real nodes: one sharer, three downloaders that start together and feed each other."""

from __future__ import annotations

import shlex

from tests.support.cluster import Cluster, MiB, group_with_members, make_file, sha256_file, wait_until


def test_downloaders_starting_together_get_pieces_from_each_other(cluster: Cluster) -> None:
    alice, *crowd = (cluster.start_node(n) for n in ("alice", "bob", "carol", "erin"))
    for n in (alice, *crowd):
        n.login()
    group_with_members(alice, crowd, "g1")
    size = 16 * MiB  # a few hundred milliseconds from the sharer alone: over before the crowd finds itself
    src = make_file(cluster.tmp / "share" / "clip.bin", size, seed=3)
    sha = sha256_file(src)
    alice.ok(f"upload_file {shlex.quote(str(src))} g1")
    wait_until(lambda: all("clip.bin\t" in n.ok("list_files g1") for n in crowd), 10, "clip.bin listed")

    for n in crowd:
        (cluster.tmp / f"dl-{n.name}").mkdir()
    for n in crowd:
        n.ok(f"download_file g1 clip.bin {shlex.quote(str(cluster.tmp / f'dl-{n.name}'))}")
    views = {n.name: n.wait_download("clip.bin") for n in crowd}

    for n in crowd:
        assert sha256_file(cluster.tmp / f"dl-{n.name}" / "clip.bin") == sha
        assert sum(views[n.name]["bytes_by_peer"].values()) == size
    # The sharer refuses a piece it already gave one of them to the others (crowd spreading), so pieces pass
    # between the downloaders although each alone could have taken the whole file from the sharer in time.
    from_peers = {name: sum(b for peer, b in view["bytes_by_peer"].items() if peer != "alice")
                  for name, view in views.items()}
    assert sum(from_peers.values()) > 0, views
    sent = alice.api("/api/status")["bytes_sent_by_user"]  # about one copy in all (three without spreading)
    assert set(sent) <= {"bob", "carol", "erin"} and sum(sent.values()) >= size  # every piece left it once
