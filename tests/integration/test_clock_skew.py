"""A seeder whose clock runs minutes ahead still serves: it reads access tokens' expiry in the trackers' time, as
their answers' ``Date`` headers tell it (it refused every token as expired, serving nothing, saying nothing), and it
tells its user that the clock is off."""

from __future__ import annotations

import shlex
from pathlib import Path

from tests.support.cluster import FAST_TRACKER_ARGS, ROOT, Cluster, group_with_members, make_file, sha256_file

SKEWED = str(ROOT / "tests" / "support" / "skewed_clock")


def test_a_seeder_whose_clock_is_ahead_by_more_than_a_token_s_life_serves_all_the_same(tmp_path: Path) -> None:
    # Tokens live 20 s here; the seeder's clock is 60 s ahead, so by its own clock every token came expired.
    with Cluster(tmp_path, tracker_args=(*FAST_TRACKER_ARGS, "--token-ttl", "20")) as c:
        c.start_tracker(1)
        alice = c.start_node("alice", env={"PYTHONPATH": SKEWED, "GS_TEST_CLOCK_SKEW": "60"})
        bob = c.start_node("bob")
        alice.login()
        bob.login()
        group_with_members(alice, [bob], "lab")
        src = make_file(tmp_path / "share" / "notes.bin", 3 * 1024 * 1024, seed=5)
        alice.ok(f"upload_file {shlex.quote(str(src))} lab")
        (tmp_path / "dl").mkdir()
        bob.ok(f"download_file lab notes.bin {shlex.quote(str(tmp_path / 'dl'))}")
        assert bob.wait_download("notes.bin", timeout=60)["state"] == "C"
        assert sha256_file(tmp_path / "dl" / "notes.bin") == sha256_file(src)
        assert alice.proc is not None
        assert "this computer's clock is 1 min 0 s ahead of the trackers'" in alice.proc.log_tail(200)
