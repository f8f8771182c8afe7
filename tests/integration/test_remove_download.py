"""remove_download between real nodes: a running download is cancelled and its partial data deleted, a failed one
is cleared with the pieces it kept, a complete one leaves the list but its file stays on disk and shared."""

from __future__ import annotations

import shlex
from pathlib import Path

from tests.support.cluster import Cluster, MiB, Node, group_with_members, make_file, sha256_file, wait_until

WAITING = ("--piece-size", str(64 * 1024), "--download-stall", "120", "--tracker-timeout", "3")


def _live_seeders(node_text: str, name: str) -> int | None:
    for line in node_text.splitlines():
        fields = line.split("\t")
        if fields[0] == name:
            return int(fields[3])
    return None


def _alice_shares(cluster: Cluster, size: int, seed: int, bob_args: tuple[str, ...] | None = None
                  ) -> tuple[Node, Node, Path]:
    """alice shares data.bin in the group lab, of which bob is a member; both logged in."""
    alice, bob = cluster.start_node("alice"), cluster.start_node("bob", bob_args)
    alice.login()
    bob.login()
    group_with_members(alice, [bob], "lab")
    src = make_file(cluster.tmp / "share" / "data.bin", size, seed=seed)
    alice.ok(f"upload_file {shlex.quote(str(src))} lab")
    return alice, bob, src


def test_a_running_download_is_cancelled_its_partial_data_deleted_and_it_stays_gone(cluster: Cluster) -> None:
    alice, bob, src = _alice_shares(cluster, 2 * MiB, 3, WAITING)
    alice.ok("logout")  # no seeder: bob's download waits (its stall limit is long), a [D] with a partial file
    dest = cluster.tmp / "dl"
    dest.mkdir()
    bob.ok(f"download_file lab data.bin {shlex.quote(str(dest))}")
    partial = dest / ".data.bin.gspart"
    wait_until(partial.exists, 15, "the partial file to be opened")
    assert bob.ok("show_downloads") == "[D] lab data.bin 0%\n"

    out = bob.ok("remove_download lab data.bin")
    assert out == "cancelled the download of data.bin from lab; its partial data is deleted\n"
    assert bob.ok("show_downloads") == ""
    assert not partial.exists() and list(dest.iterdir()) == []
    assert not any((bob.data_dir / "partial").glob("*.json"))
    st, text = bob.cmd("remove_download lab data.bin")
    assert (st, text) == (404, "error: there is no download of data.bin from lab\n")

    bob.kill()
    bob.start()  # still logged in: a removed download must not come back and resume
    assert bob.ok("show_downloads") == ""

    # The same download later starts afresh and completes once a seeder is back.
    alice.ok(f"login alice {shlex.quote(alice.password)}")
    wait_until(lambda: _live_seeders(bob.ok("list_files lab"), "data.bin"), 30, "alice's copy to be live again")
    bob.ok(f"download_file lab data.bin {shlex.quote(str(dest))}")
    bob.wait_download("data.bin")
    assert sha256_file(dest / "data.bin") == sha256_file(src)


def test_a_failed_download_is_cleared_with_the_pieces_it_kept(cluster: Cluster) -> None:
    alice, bob, _ = _alice_shares(cluster, 1 * MiB, 4)
    alice.ok("logout")
    dest = cluster.tmp / "copy.bin"
    bob.ok(f"download_file lab data.bin {shlex.quote(str(dest))}")
    bob.wait_download("data.bin", timeout=60, states=("F",))
    partial = dest.with_name(".copy.bin.gspart")
    assert partial.exists()  # kept so that a retry resumes from it

    out = bob.ok("remove_download lab data.bin")
    assert out == "removed the failed download of data.bin from lab; its partial data is deleted\n"
    assert bob.ok("show_downloads") == ""
    assert not partial.exists() and not dest.exists()


def _downloaded_by(bob: Node, cluster: Cluster) -> Path:
    """bob downloads lab's data.bin into a folder of its own, to the end; returns the folder."""
    dest = cluster.tmp / "dl"
    dest.mkdir()
    bob.ok(f"download_file lab data.bin {shlex.quote(str(dest))}")
    bob.wait_download("data.bin")
    return dest


def test_a_complete_download_leaves_the_list_but_its_file_stays_and_is_still_shared(cluster: Cluster) -> None:
    alice, bob, src = _alice_shares(cluster, 1 * MiB, 5)
    dest = _downloaded_by(bob, cluster)
    wait_until(lambda: _live_seeders(alice.ok("list_files lab"), "data.bin") == 2, 20, "bob to seed data.bin")

    out = bob.ok("remove_download lab data.bin")
    assert out == (f"removed data.bin of lab from the list; the file stays at {dest / 'data.bin'} and is still "
                   "shared (stop_share ends that)\n")
    assert bob.ok("show_downloads") == ""
    assert sha256_file(dest / "data.bin") == sha256_file(src)
    alice.ok("stop_share lab data.bin")  # bob alone now holds it: it is listed only while he still seeds
    wait_until(lambda: _live_seeders(alice.ok("list_files lab"), "data.bin") == 1, 20, "bob alone to seed data.bin")


def test_removing_a_download_no_longer_shared_does_not_claim_it_is(cluster: Cluster) -> None:
    _alice, bob, _src = _alice_shares(cluster, 1 * MiB, 6)
    dest = _downloaded_by(bob, cluster)
    bob.ok("stop_share lab data.bin")
    out = bob.ok("remove_download lab data.bin")
    assert out == f"removed data.bin of lab from the list; the file stays at {dest / 'data.bin'} and is not shared\n"


def test_remove_download_checks_its_input(cluster: Cluster) -> None:
    bob = cluster.start_node("bob")
    bob.login()
    assert bob.cmd("remove_download lab")[0] == 400
    st, text = bob.cmd("remove_download 'bad id!' data.bin")
    assert st == 400 and text.startswith("error: ")
    st, text = bob.cmd("remove_download lab ../x")
    assert st == 400 and text.startswith("error: ")
    assert bob.cmd("remove_download lab nothing.bin") == (404, "error: there is no download of nothing.bin from lab\n")
    bob.ok("logout")
    assert bob.cmd("remove_download lab nothing.bin")[0] == 401


def test_removing_a_download_whose_file_was_deleted_says_so_not_that_it_stays(cluster: Cluster) -> None:
    _alice, bob, _src = _alice_shares(cluster, 1 * MiB, 7)
    dest = _downloaded_by(bob, cluster)
    (dest / "data.bin").unlink()  # the user deleted the finished file by hand
    out = bob.ok("remove_download lab data.bin")
    assert out == f"removed data.bin of lab from the list; the file is no longer at {dest / 'data.bin'} (moved or " \
                  "deleted)\n"
