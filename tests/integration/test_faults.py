"""Faults during downloads: a seeder dies, a seeder serves a changed file, a downloader restarts, no seeder."""

from __future__ import annotations

import json
import os
import shlex
import signal
from pathlib import Path

from tests.support.cluster import Cluster, MiB, Node, group_with_members, make_file, sha256_file, wait_until

PIECE = 64 * 1024  # FAST_NODE_ARGS' piece size
SIZE = 16 * MiB


def corrupt_pieces(path: Path, indexes: list[int]) -> dict[int, bytes]:
    """Flip the first bytes of some pieces in place, size and mtime kept: a seeder's bit rot, or a seeder that lies.
    The ctime moves all the same, and a seeder that looks stops serving the file (the last test here): a test of
    what downloaders do with bad pieces runs its seeder with ``rot=True`` (``shared_file``), which does not look.
    Return the original bytes to restore them."""
    saved = {}
    st = path.stat()
    with open(path, "r+b") as f:
        for i in indexes:
            f.seek(i * PIECE)
            saved[i] = f.read(64)
            f.seek(i * PIECE)
            f.write(bytes(b ^ 0xFF for b in saved[i]))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    return saved


def restore_pieces(path: Path, saved: dict[int, bytes]) -> None:
    st = path.stat()
    with open(path, "r+b") as f:
        for i, data in saved.items():
            f.seek(i * PIECE)
            f.write(data)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


def wait_stalled(node: Node, name: str) -> int:
    """Wait until a running download stops gaining bytes (2 s without change); return its bytes done."""
    seen: list[int] = []

    def stalled() -> int | None:
        view = node.downloads()[name]
        assert view["state"] == "D", view["state"]
        seen.append(int(view["bytes_done"]))
        return seen[-1] if len(seen) > 10 and seen[-1] > 0 and seen[-11] == seen[-1] else None

    return wait_until(stalled, 40, f"{node.name}'s download of {name} to stall", interval=0.2)


def shared_file(cluster: Cluster, names: tuple[str, ...], stall: float = 6.0, resume_check: float = 5.0,
                rot: bool = False) -> tuple[list[Node], Path, str]:
    """``rot``: the nodes look at their shared files once a day, not every 2 s, so that a file changed in place
    (``corrupt_pieces``) goes on being served, like bit rot that no stat shows."""
    look = ("--share-check", "86400") if rot else ()
    nodes = [cluster.start_node(n, ("--piece-size", str(PIECE), "--download-stall", str(stall), "--tracker-timeout",
                                    "3", "--resume-check", str(resume_check), *look)) for n in names]
    for n in nodes:
        n.login()
    group_with_members(nodes[0], nodes[1:], "g1")
    src = make_file(cluster.tmp / "share" / "data.bin", SIZE, seed=7)
    nodes[0].ok(f"upload_file {shlex.quote(str(src))} g1")
    return nodes, src, sha256_file(src)


def test_seeder_killed_mid_download_the_download_completes_from_another(cluster: Cluster) -> None:
    (alice, bob, carol), src, sha = shared_file(cluster, ("alice", "bob", "carol"), stall=40, rot=True)
    bob.ok(f"download_file g1 data.bin {shlex.quote(str(cluster.tmp / 'bob.bin'))}")
    bob.wait_download("data.bin")
    bob.ok("logout")  # bob holds the whole file but serves nothing for now
    corrupt_pieces(src, [SIZE // PIECE // 2])  # alice cannot give carol this one piece
    carol.ok(f"download_file g1 data.bin {shlex.quote(str(cluster.tmp / 'carol.bin'))}")
    # alice's bad piece costs her strikes and she is dropped: carol then waits, holding what alice gave
    held = wait_stalled(carol, "data.bin")
    assert 0 < held < SIZE
    assert carol.downloads()["data.bin"]["state"] == "D"
    alice.kill()  # SIGKILL while carol's download is still going
    bob.ok(f"login bob {shlex.quote(bob.password)}")
    view = carol.wait_download("data.bin", timeout=60)
    assert sha256_file(cluster.tmp / "carol.bin") == sha
    assert view["bytes_by_peer"].get("bob", 0) >= PIECE


def test_seeder_with_a_changed_file_does_not_spoil_the_download(cluster: Cluster) -> None:
    (_alice, bob, carol), src, sha = shared_file(cluster, ("alice", "bob", "carol"), rot=True)
    bob.ok(f"download_file g1 data.bin {shlex.quote(str(cluster.tmp / 'bob.bin'))}")
    bob.wait_download("data.bin")
    corrupt_pieces(src, list(range(0, SIZE // PIECE, 3)))  # alice now serves wrong bytes for a third of it
    carol.ok(f"download_file g1 data.bin {shlex.quote(str(cluster.tmp / 'carol.bin'))}")
    carol.wait_download("data.bin", timeout=60)
    assert sha256_file(cluster.tmp / "carol.bin") == sha
    assert carol.ok("show_downloads") == "[C] g1 data.bin\n"


def test_downloader_killed_and_restarted_resumes_with_only_missing_pieces(cluster: Cluster) -> None:
    (_alice, bob), src, sha = shared_file(cluster, ("alice", "bob"), stall=60, rot=True)
    saved = corrupt_pieces(src, [SIZE // PIECE - 3])  # bob cannot finish: it stalls on this piece
    dest = cluster.tmp / "bob.bin"
    bob.ok(f"download_file g1 data.bin {shlex.quote(str(dest))}")

    before = wait_stalled(bob, "data.bin")
    assert 0 < before < SIZE
    bob.kill()
    restore_pieces(src, saved)
    cluster.start_node("bob")  # same data dir: still logged in, resumes by itself
    view = bob.wait_download("data.bin", timeout=60)
    assert sha256_file(dest) == sha
    fetched_again = sum(view["bytes_by_peer"].values())
    assert fetched_again <= SIZE - before + 4 * PIECE, (fetched_again, before)
    assert bob.ok("show_downloads") == "[C] g1 data.bin\n"


def test_a_downloader_stopped_cleanly_keeps_count_of_what_each_member_gave_before(cluster: Cluster) -> None:
    (_alice, bob), src, sha = shared_file(cluster, ("alice", "bob"), stall=60, rot=True)
    saved = corrupt_pieces(src, [SIZE // PIECE - 3])
    dest = cluster.tmp / "bob.bin"
    bob.ok(f"download_file g1 data.bin {shlex.quote(str(dest))}")
    before = wait_stalled(bob, "data.bin")
    bob.kill(signal.SIGTERM)  # a clean stop: its record keeps what alice gave so far
    restore_pieces(src, saved)
    cluster.start_node("bob")
    view = bob.wait_download("data.bin", timeout=60)
    assert sha256_file(dest) == sha
    # every piece came from alice, over both runs: the page's "Received from alice" is the whole file, not the
    # second run's part of it (after a SIGKILL the first run's count is lost: the test above)
    assert set(view["bytes_by_peer"]) == {"alice"} and view["bytes_by_peer"]["alice"] >= SIZE, (view, before)


def test_no_seeder_at_all_shows_failed_with_a_reason(cluster: Cluster) -> None:
    (alice, bob), _src, _sha = shared_file(cluster, ("alice", "bob"), stall=3)
    alice.ok("logout")
    bob.ok(f"download_file g1 data.bin {shlex.quote(str(cluster.tmp))}")
    st, text = bob.cmd(f"download_file g1 data.bin {shlex.quote(str(cluster.tmp / 'other.bin'))}")
    assert st == 409 and text.startswith("error: "), (st, text)  # the first one is still trying
    view = bob.wait_download("data.bin", timeout=60, states=("F",))
    assert view["reason"]
    lines = bob.ok("show_downloads").splitlines()
    assert len(lines) == 1 and lines[0].startswith("[F] g1 data.bin ") and len(lines[0]) > len("[F] g1 data.bin ")
    assert not (cluster.tmp / "data.bin").exists()


def test_a_failed_download_keeps_its_pieces_and_a_retry_resumes(cluster: Cluster) -> None:
    # The node would also resume by itself (alice is still listed): it waits an hour here, so the retry is ours.
    (_alice, bob), src, sha = shared_file(cluster, ("alice", "bob"), stall=3, resume_check=3600, rot=True)
    saved = corrupt_pieces(src, [SIZE // PIECE - 3])  # bob cannot finish: alice is dropped for this piece
    dest = cluster.tmp / "bob.bin"
    bob.ok(f"download_file g1 data.bin {shlex.quote(str(dest))}")
    view = bob.wait_download("data.bin", timeout=60, states=("F",))
    got_first = sum(view["bytes_by_peer"].values())
    assert 0 < got_first < SIZE
    assert (cluster.tmp / ".bob.bin.gspart").is_file() and not dest.exists()  # the verified pieces stay
    # ... and the failed row says how much it kept (whole pieces, at most what arrived), not 0 B
    assert 0 < view["bytes_done"] <= got_first and view["bytes_done"] % PIECE == 0, view
    assert view["percent"] == view["bytes_done"] * 100 // SIZE
    restore_pieces(src, saved)
    bob.ok(f"download_file g1 data.bin {shlex.quote(str(dest))}")  # the same download again
    view = bob.wait_download("data.bin", timeout=60)
    assert sha256_file(dest) == sha
    # what each member gave counts over both runs: the retry's own part is what it added
    fetched_again = sum(view["bytes_by_peer"].values()) - got_first
    assert 0 < fetched_again <= SIZE - got_first + 4 * PIECE, (fetched_again, got_first)
    assert bob.ok("show_downloads") == "[C] g1 data.bin\n"


def test_a_failed_download_started_again_elsewhere_starts_afresh(cluster: Cluster) -> None:
    (_alice, bob), src, sha = shared_file(cluster, ("alice", "bob"), stall=3, resume_check=3600, rot=True)
    saved = corrupt_pieces(src, [SIZE // PIECE - 3])
    bob.ok(f"download_file g1 data.bin {shlex.quote(str(cluster.tmp / 'first.bin'))}")
    bob.wait_download("data.bin", timeout=60, states=("F",))
    restore_pieces(src, saved)
    other = cluster.tmp / "second.bin"
    bob.ok(f"download_file g1 data.bin {shlex.quote(str(other))}")
    bob.wait_download("data.bin", timeout=60)
    assert sha256_file(other) == sha  # not the first partial's pieces claimed over an empty file
    assert not (cluster.tmp / ".first.bin.gspart").exists()


def recorded_mtime(node: Node, file_name: str) -> int | None:
    shares = json.loads((node.data_dir / "shares.json").read_text("utf-8"))
    return next((int(s["mtime_ns"]) for s in shares if s["meta"]["file_name"] == file_name), None)


def slow_sharer(cluster: Cluster, stall: float) -> tuple[Node, Node, Path]:
    """alice shares data.bin at 1 MB/s (16 s for the file) in g1, where bob is a member."""
    alice, bob = (cluster.start_node(n, ("--piece-size", str(PIECE), "--download-stall", str(stall),
                                         "--tracker-timeout", "3", *extra))
                  for n, extra in (("alice", ("--upload-limit", "1M")), ("bob", ("--resume-check", "1"))))
    for n in (alice, bob):
        n.login()
    group_with_members(alice, [bob], "g1")
    src = make_file(cluster.tmp / "share" / "data.bin", SIZE, seed=7)
    alice.ok(f"upload_file {shlex.quote(str(src))} g1")
    return alice, bob, src


def test_a_download_whose_only_seeder_went_away_resumes_by_itself_when_it_is_back(cluster: Cluster) -> None:
    alice, bob, src = slow_sharer(cluster, stall=3)
    sha = sha256_file(src)
    dest = cluster.tmp / "bob.bin"
    bob.ok(f"download_file g1 data.bin {shlex.quote(str(dest))}")
    wait_until(lambda: bob.downloads()["data.bin"]["bytes_done"] >= 2 * PIECE, 30, "bob's first pieces")
    alice.kill()  # her laptop closes mid-download
    view = bob.wait_download("data.bin", timeout=60, states=("F",))
    assert view["reason"].endswith("; resumes by itself when a member who has it is back"), view
    kept = view["bytes_done"]
    assert 0 < kept < SIZE
    cluster.start_node("alice")  # ... and opens again: same data dir, still logged in, serving her share
    alice.ok("set_upload_limit 0")  # the rest at full speed (about 12 s less): what is tested is the resume
    # No command from bob: his node starts it again (it shows [F] until then, so wait for [C] through [F]).
    view = wait_until(lambda: (d := bob.downloads()["data.bin"])["state"] == "C" and d, 120, "bob's [C]")
    assert sha256_file(dest) == sha
    fetched_again = sum(view["bytes_by_peer"].values())
    assert fetched_again <= SIZE - kept + 4 * PIECE, (fetched_again, kept)  # from the pieces it kept
    assert "resuming its download" in (cluster.tmp / "logs" / "node-bob.log").read_text("utf-8")


def test_a_shared_file_truncated_mid_download_is_no_longer_served_and_the_download_fails(cluster: Cluster) -> None:
    alice, bob, src = slow_sharer(cluster, stall=4)
    bob.ok(f"download_file g1 data.bin {shlex.quote(str(cluster.tmp / 'bob.bin'))}")
    wait_until(lambda: bob.downloads()["data.bin"]["bytes_done"] > 0, 30, "bob's first piece")
    os.truncate(src, SIZE // 4)  # alice's user cuts the file short while bob is fetching it

    view = bob.wait_download("data.bin", timeout=60, states=("F",))  # not [D] for ever
    # ... and says why: alice's node answered that it no longer serves the file, or (whichever bob hears first)
    # the tracker, told by alice's node, no longer lists it
    assert view["reason"].startswith(("no seeder reachable (alice: their node does not share this file now)",
                                      "nobody shares data.bin now (it is no longer on the group's list")), view
    assert 0 < view["bytes_done"] < SIZE
    wait_until(lambda: not alice.api("/api/status")["shares"], 30, "alice to drop the changed share")
    assert recorded_mtime(alice, "data.bin") is None
    assert "changed on disk" in (cluster.tmp / "logs" / "node-alice.log").read_text("utf-8")
    assert "data.bin" not in alice.ok("list_files g1")  # the tracker no longer lists it either


def test_a_shared_file_only_touched_is_checked_again_and_still_served(cluster: Cluster) -> None:
    (alice, bob), src, sha = shared_file(cluster, ("alice", "bob"))
    st = src.stat()
    later = st.st_mtime_ns + 5_000_000_000
    os.utime(src, ns=(st.st_atime_ns, later))  # same bytes, a new mtime: re-hashed, found equal, kept
    wait_until(lambda: recorded_mtime(alice, "data.bin") == later, 30, "alice to re-check the touched file")
    bob.ok(f"download_file g1 data.bin {shlex.quote(str(cluster.tmp / 'bob.bin'))}")
    bob.wait_download("data.bin", timeout=60)
    assert sha256_file(cluster.tmp / "bob.bin") == sha


def test_a_partial_file_deleted_mid_download_fails_it_at_once_and_a_retry_completes(cluster: Cluster) -> None:
    alice, bob, src = slow_sharer(cluster, stall=30)
    sha = sha256_file(src)
    dest = cluster.tmp / "dl"
    dest.mkdir()
    bob.ok(f"download_file g1 data.bin {shlex.quote(str(dest))}")
    wait_until(lambda: bob.downloads()["data.bin"]["bytes_done"] > 0, 30, "bob's first piece")
    (dest / ".data.bin.gspart").unlink()  # a clean-up of hidden files, mid-download
    view = bob.wait_download("data.bin", timeout=30, states=("F",))  # not after fetching all 16 MiB into nothing
    assert view["reason"].startswith(f"the partial file {dest / '.data.bin.gspart'} was deleted"), view
    assert sum(view["bytes_by_peer"].values()) < SIZE
    assert list(dest.iterdir()) == []  # no empty file left under the final name to block a retry
    alice.ok("set_upload_limit 0")
    bob.ok(f"download_file g1 data.bin {shlex.quote(str(dest))}")
    bob.wait_download("data.bin", timeout=60)
    assert sha256_file(dest / "data.bin") == sha


def test_a_shared_file_rewritten_with_its_mtime_put_back_is_no_longer_served(cluster: Cluster) -> None:
    (alice, bob), src, _sha = shared_file(cluster, ("alice", "bob"))
    corrupt_pieces(src, [3])  # other bytes, same size and mtime: only the ctime tells
    wait_until(lambda: not alice.api("/api/status")["shares"], 30, "alice to drop the rewritten share")
    log = (cluster.tmp / "logs" / "node-alice.log").read_text("utf-8")
    assert "changed on disk" in log and "no longer matches what was shared" in log
    assert "data.bin" not in bob.ok("list_files g1")  # nobody is sent to a node that would serve wrong bytes
