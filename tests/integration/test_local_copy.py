"""A member downloading a file this node already holds whole gets it from that copy, with no other seeder online
(before, the download waited for some other node and failed with "no seeder reachable")."""

from __future__ import annotations

import contextlib
import os
import shlex
from pathlib import Path

from tests.support.cluster import Cluster, MiB, Node, group_with_members, make_file, sha256_file, wait_until


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


def open_files(node: Node) -> list[str]:
    assert node.proc is not None
    fds = Path(f"/proc/{node.proc.popen.pid}/fd")
    out = []
    for fd in fds.iterdir():
        with contextlib.suppress(OSError):
            out.append(os.readlink(fd))
    return out


def test_a_finished_file_is_downloaded_again_only_once_removed_and_no_descriptor_is_left_behind(
        cluster: Cluster) -> None:
    alice, bob = cluster.start_node("alice"), cluster.start_node("bob")
    for n in (alice, bob):
        n.login()
    group_with_members(alice, [bob], "g1")
    src = make_file(cluster.tmp / "share" / "mid.bin", 3 * MiB, seed=4)
    alice.ok(f"upload_file {shlex.quote(str(src))} g1")
    first, second = cluster.tmp / "a", cluster.tmp / "b"
    first.mkdir()
    second.mkdir()
    bob.ok(f"download_file g1 mid.bin {first}")
    bob.wait_download("mid.bin")
    st, text = bob.cmd(f"download_file g1 mid.bin {second}")
    assert st == 409 and text == (f"error: the file mid.bin of g1 is already downloaded, at {first / 'mid.bin'}; "
                                  "copy it from there, or remove_download g1 mid.bin first to download it again\n")
    bob.ok("remove_download g1 mid.bin")
    bob.ok(f"download_file g1 mid.bin {second}")
    bob.wait_download("mid.bin")
    assert sha256_file(second / "mid.bin") == sha256_file(src)
    # The copy at a/ is no longer bob's share (one share per file and group): nothing of it stays open ...
    wait_until(lambda: not any(p.startswith(str(first)) for p in open_files(bob)), 10, "a/'s descriptors to close")
    (second / "mid.bin").unlink()  # ... and once the shared copy is deleted, nothing of it either
    # (kept on record, unserved, until the file is back: ``share_absence``)
    wait_until(lambda: [s["unavailable"] for s in bob.api("/api/status")["shares"]] == ["is gone (moved or deleted)"],
               10, "bob to stop serving the deleted share")
    wait_until(lambda: not any(str(second) in p for p in open_files(bob)), 10, "b/'s descriptors to close")
