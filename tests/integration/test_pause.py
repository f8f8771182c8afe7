"""pause_download and resume_download between real nodes: a paused download keeps its verified pieces, stays
paused across a restart of its node (shown ``[D]`` with its percent, the contract's forms), and a resume goes on
from those pieces to a file with the right SHA-256; what cannot be paused or resumed is refused in words."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

from tests.support.cluster import Cluster, MiB, Node, group_with_members, make_file, sha256_file, wait_until

SLOW = ("--piece-size", str(64 * 1024), "--upload-limit", "1M")


def _percent(show: str) -> int:
    found = re.fullmatch(r"\[D\] lab data\.bin (\d+)%\n", show)
    assert found is not None, show
    return int(found.group(1))


def _slow_share(cluster: Cluster, seed: int) -> tuple[Node, Node, Path, Path]:
    """alice shares 4 MiB of data.bin in lab at 1 MB/s; bob is a member; his download folder is made."""
    alice, bob = cluster.start_node("alice", SLOW), cluster.start_node("bob")
    alice.login()
    bob.login()
    group_with_members(alice, [bob], "lab")
    src = make_file(cluster.tmp / "share" / "data.bin", 4 * MiB, seed=seed)
    alice.ok(f"upload_file {shlex.quote(str(src))} lab")
    dest = cluster.tmp / "dl"
    dest.mkdir()
    return alice, bob, src, dest


def test_a_paused_download_keeps_its_pieces_across_a_restart_and_resumes_to_the_right_file(cluster: Cluster) -> None:
    alice, bob, src, dest = _slow_share(cluster, seed=7)
    assert bob.cmd("pause_download lab data.bin") == (404, "error: there is no download of data.bin from lab\n")
    bob.ok(f"download_file lab data.bin {shlex.quote(str(dest))}")
    wait_until(lambda: _percent(bob.ok("show_downloads")) >= 10, 60, "a tenth of the file")

    out = bob.ok("pause_download lab data.bin")
    assert re.fullmatch(r"paused the download of data\.bin from lab at \d+%; resume_download goes on\n", out), out
    at = _percent(bob.ok("show_downloads"))
    assert at >= 10 and bob.downloads()["data.bin"]["state"] == "P"
    assert (dest / ".data.bin.gspart").exists()  # the verified pieces stay
    st, text = bob.cmd("pause_download lab data.bin")
    assert (st, text) == (409, "error: the download of data.bin from lab is not running (paused): only a running "
                               "download can be paused\n")

    bob.kill()
    bob.start()  # still logged in: a paused download is not resumed by a start
    assert _percent(bob.ok("show_downloads")) == at and bob.downloads()["data.bin"]["state"] == "P"

    assert bob.ok("resume_download lab data.bin") == \
        f"resuming the download of data.bin from lab to {dest / 'data.bin'}\n"
    assert _percent(bob.ok("show_downloads")) >= at  # from its pieces: never back to 0% while it reopens them
    st, text = bob.cmd("resume_download lab data.bin")
    assert (st, text) == (409, "error: the download of data.bin from lab is not paused (running)\n")
    alice.ok("set_upload_limit 0")
    bob.wait_download("data.bin", timeout=120)
    assert sha256_file(dest / "data.bin") == sha256_file(src)
    assert bob.cmd("resume_download lab data.bin")[0] == 409  # complete
    assert bob.cmd("pause_download lab 'bad/name'")[0] == 400


def test_resuming_a_download_whose_sharer_stopped_waits_for_it_and_goes_on_when_it_shares_again(
        cluster: Cluster) -> None:
    """Resume once the only sharer stopped sharing: it answered 404 "no file named data.bin in lab" and stayed
    paused for good; now it waits, its pieces kept, and goes on by itself when the file is shared again."""
    alice, bob, src, dest = _slow_share(cluster, seed=9)
    bob.ok(f"download_file lab data.bin {shlex.quote(str(dest))}")
    wait_until(lambda: _percent(bob.ok("show_downloads")) >= 10, 60, "a tenth of the file")
    bob.ok("pause_download lab data.bin")
    at = _percent(bob.ok("show_downloads"))
    alice.ok("stop_share lab data.bin")

    out = bob.ok("resume_download lab data.bin")
    assert re.fullmatch(rf"the download of data\.bin from lab waits at {at}%: nobody shares data\.bin now \(it is "
                        r"no longer on the group's list\); resumes by itself when a member who has it is back\n",
                        out), out
    assert bob.ok("show_downloads").startswith("[F] lab data.bin nobody shares data.bin now")
    assert (dest / ".data.bin.gspart").exists()  # the verified pieces stay

    alice.ok("set_upload_limit 0")
    alice.ok(f"upload_file {shlex.quote(str(src))} lab")
    wait_until(lambda: bob.downloads()["data.bin"]["state"] != "F", 60, "the download going on by itself")
    bob.wait_download("data.bin", timeout=120)
    assert sha256_file(dest / "data.bin") == sha256_file(src)


def test_a_download_stopped_by_a_logout_keeps_showing_what_it_has(cluster: Cluster) -> None:
    """Logged out mid-download and in again: the row said 0% until the partial file was open again (its record
    kept what each member gave, not what it had verified)."""
    _alice, bob, _src, dest = _slow_share(cluster, seed=8)
    bob.ok(f"download_file lab data.bin {shlex.quote(str(dest))}")
    wait_until(lambda: _percent(bob.ok("show_downloads")) >= 10, 60, "a tenth of the file")
    bob.ok("logout")
    (kept,) = [d["bytes_kept"] for d in json.loads((bob.data_dir / "downloads.json").read_text("utf-8"))]
    assert kept >= 4 * MiB // 10  # what the row shows at the next login, until the file is open again
