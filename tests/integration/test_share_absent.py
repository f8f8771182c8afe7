"""A share whose file is gone when its node starts (a drive not mounted yet, a folder renamed for a while) is
kept, unserved and said so, and served again once the file is back: nobody has to share it again."""

from __future__ import annotations

import shlex
import signal
from pathlib import Path

from tests.support.cluster import Cluster, lab_pair, make_file, sha256_file, wait_until


def test_a_share_whose_file_is_away_at_start_waits_for_it_and_is_served_again_once_it_is_back(
        tmp_path: Path) -> None:
    with Cluster(tmp_path / "c") as c:
        alice, bob = lab_pair(c)
        src = make_file(tmp_path / "usb" / "notes.bin", 3_000_000, 5)
        sha = sha256_file(src)
        alice.ok(f"upload_file {shlex.quote(str(src))} lab")
        alice.kill(signal.SIGTERM)
        aside = src.rename(tmp_path / "notes.bin")  # the drive is not mounted when the node starts again
        alice.start()

        def unavailable() -> str | None:
            shares = alice.api("/api/status")["shares"]
            assert [s["file_name"] for s in shares] == ["notes.bin"], shares  # kept, not dropped
            return str(shares[0]["unavailable"]) if shares[0]["unavailable"] is not None else None

        assert wait_until(unavailable, 30, "alice's node to find the file away") == "is gone (moved or deleted)"
        assert bob.ok("list_files lab") == ""  # nobody is sent to a node that cannot serve it
        log = c.tmp / "logs" / "node-alice.log"
        assert f"the file {src} is gone (moved or deleted); not serving it until it is back" in log.read_text()

        aside.rename(src)  # mounted again
        wait_until(lambda: "notes.bin\t" in bob.ok("list_files lab"), 30, "alice's file to be listed again")
        assert alice.api("/api/status")["shares"][0]["unavailable"] is None
        dest = tmp_path / "bob-notes.bin"
        bob.ok(f"download_file lab notes.bin {shlex.quote(str(dest))}")
        bob.wait_download("notes.bin", timeout=60)
        assert sha256_file(dest) == sha
        text = log.read_text()
        assert text.count("is gone (moved or deleted)") == 1 and "is back; serving it again" in text
