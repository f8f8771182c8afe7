"""Swarm downloads between real nodes: one sharer, two downloaders, bytes from both earlier holders."""

from __future__ import annotations

import os
import shlex

from tests.support.cluster import Cluster, MiB, group_with_members, make_file, sha256_file, wait_until


def test_later_downloader_fetches_from_the_sharer_and_the_earlier_downloader(cluster: Cluster) -> None:
    alice, bob, carol, dave = (cluster.start_node(n) for n in ("alice", "bob", "carol", "dave"))
    for n in (alice, bob, carol, dave):
        n.login()
    group_with_members(alice, [bob, carol], "g1")
    # Big enough that the first seeder to connect cannot deliver everything before the second has shaken
    # hands, even on a loaded machine (24 MiB once went wholly to one of them).
    size = 64 * MiB
    src = make_file(cluster.tmp / "share" / "movie.bin", size, seed=1)
    sha = sha256_file(src)

    out = alice.ok(f"upload_file {shlex.quote(str(src))} g1")
    assert out.startswith("shared movie.bin in g1") and sha in out
    listing = wait_until(lambda: [ln for ln in bob.ok("list_files g1").splitlines()
                                  if ln.startswith("movie.bin\t")], 10, "movie.bin listed")
    assert listing[0].split("\t") == ["movie.bin", str(size), sha, "1"]
    assert dave.cmd("list_files g1")[0] == 403  # not a member

    bob_dir = cluster.tmp / "dl-bob"
    bob_dir.mkdir()
    bob.ok(f"download_file g1 movie.bin {shlex.quote(str(bob_dir))}")
    bob.wait_download("movie.bin")
    assert bob.ok("show_downloads") == "[C] g1 movie.bin\n"
    assert sha256_file(bob_dir / "movie.bin") == sha
    # bob is now a seeder too
    wait_until(lambda: "movie.bin\t" in bob.ok("list_files g1") and
               bob.ok("list_files g1").split("movie.bin\t")[1].split("\n")[0].endswith("\t2"), 15,
               "two live seeders of movie.bin")

    carol_dest = cluster.tmp / "carol-copy.bin"
    carol.ok(f"download_file g1 movie.bin {shlex.quote(str(carol_dest))}")
    view = carol.wait_download("movie.bin")
    assert sha256_file(carol_dest) == sha
    assert view["bytes_by_peer"].get("alice", 0) > 0, view["bytes_by_peer"]
    assert view["bytes_by_peer"].get("bob", 0) > 0, view["bytes_by_peer"]
    assert sum(view["bytes_by_peer"].values()) == size
    assert not [n for n in os.listdir(cluster.tmp) if n.endswith(".gspart")]


def test_download_destination_rules_are_checked_at_once(cluster: Cluster) -> None:
    alice, bob = cluster.start_node("alice"), cluster.start_node("bob")
    alice.login()
    bob.login()
    group_with_members(alice, [bob], "g1")
    src = make_file(cluster.tmp / "share" / "doc.bin", 256 * 1024, seed=2)
    alice.ok(f"upload_file {shlex.quote(str(src))} g1")
    existing = cluster.tmp / "existing.bin"
    existing.write_bytes(b"keep me")
    st, text = bob.cmd(f"download_file g1 doc.bin {shlex.quote(str(existing))}")
    assert st == 409 and text.startswith("error: ")
    assert existing.read_bytes() == b"keep me"
    st, text = bob.cmd(f"download_file g1 doc.bin {shlex.quote(str(cluster.tmp / 'no' / 'such' / 'x.bin'))}")
    assert st == 400 and text.startswith("error: ")
    st, text = bob.cmd(f"download_file g1 nosuchfile.bin {shlex.quote(str(cluster.tmp))}")
    assert st == 404 and text.startswith("error: ")
    st, _ = bob.cmd(f"download_file g1 '../doc.bin' {shlex.quote(str(cluster.tmp))}")
    assert st == 400
    assert bob.ok("show_downloads") == ""


def test_logout_stops_serving_and_login_serves_again(cluster: Cluster) -> None:
    alice, bob = cluster.start_node("alice"), cluster.start_node("bob")
    alice.login()
    bob.login()
    group_with_members(alice, [bob], "g1")
    src = make_file(cluster.tmp / "share" / "a.bin", 300 * 1024, seed=3)
    gone = make_file(cluster.tmp / "share" / "gone.bin", 200 * 1024, seed=4)
    alice.ok(f"upload_file {shlex.quote(str(src))} g1")
    alice.ok(f"upload_file {shlex.quote(str(gone))} g1")
    wait_until(lambda: bob.ok("list_files g1").count("\n") == 2, 10, "both files listed")
    alice.ok("logout")
    wait_until(lambda: bob.ok("list_files g1") == "", 15, "no live seeder after alice's logout")
    gone.unlink()
    alice.ok(f"login alice {shlex.quote(alice.password)}")
    wait_until(lambda: [ln.split("\t")[0] for ln in bob.ok("list_files g1").splitlines()] == ["a.bin"], 15,
               "a.bin listed again, gone.bin no more")
    # gone.bin stays on alice's record, unserved, until it is back (``share_absence``)
    wait_until(lambda: [(s["file_name"], s["unavailable"]) for s in alice.api("/api/status")["shares"]] == [
        ("a.bin", None), ("gone.bin", "is gone (moved or deleted)")], 15, "alice's node to find gone.bin away")


def test_stop_share_and_leave_group_end_the_shares(cluster: Cluster) -> None:
    alice, bob = cluster.start_node("alice"), cluster.start_node("bob")
    alice.login()
    bob.login()
    group_with_members(alice, [bob], "g1")
    one = make_file(cluster.tmp / "share" / "one.bin", 100 * 1024, seed=11)
    two = make_file(cluster.tmp / "share" / "two.bin", 100 * 1024, seed=12)
    alice.ok(f"upload_file {shlex.quote(str(one))} g1")
    alice.ok(f"upload_file {shlex.quote(str(two))} g1")
    wait_until(lambda: bob.ok("list_files g1").count("\n") == 2, 10, "both files listed")
    alice.ok("stop_share g1 one.bin")
    assert bob.cmd("stop_share g1 one.bin")[0] == 404  # bob never shared it
    wait_until(lambda: [ln.split("\t")[0] for ln in bob.ok("list_files g1").splitlines()] == ["two.bin"], 10,
               "one.bin no longer listed")
    alice.ok("leave_group g1")
    assert alice.api("/api/status")["shares"] == []
    wait_until(lambda: bob.ok("list_files g1") == "", 10, "alice's shares in g1 ended with her leaving")
    assert [ln.split("\t")[:2] for ln in bob.ok("list_groups").splitlines()] == [["g1", "bob"]]


def test_restarted_sharer_is_still_logged_in_and_serves_again(cluster: Cluster) -> None:
    alice, bob = cluster.start_node("alice"), cluster.start_node("bob")
    alice.login()
    bob.login()
    group_with_members(alice, [bob], "g1")
    src = make_file(cluster.tmp / "share" / "keep.bin", 1 * MiB, seed=13)
    alice.ok(f"upload_file {shlex.quote(str(src))} g1")
    alice.kill()  # SIGKILL: no goodbye to the tracker
    cluster.start_node("alice")
    assert alice.api("/api/status")["user_id"] == "alice"
    assert [s["file_name"] for s in alice.api("/api/status")["shares"]] == ["keep.bin"]
    bob.ok(f"download_file g1 keep.bin {shlex.quote(str(cluster.tmp))}")
    view = bob.wait_download("keep.bin", timeout=60)
    assert view["bytes_by_peer"] == {"alice": 1 * MiB}
    assert sha256_file(cluster.tmp / "keep.bin") == sha256_file(src)
