"""A download keeps going while the primary tracker is killed (real trackers and real peer nodes)."""

from __future__ import annotations

import json
import shlex
import signal
from pathlib import Path

import pytest

from tests.support.cluster import (
    FAST_TRACKER_ARGS,
    Cluster,
    MiB,
    group_with_members,
    http_request,
    make_file,
    sha256_file,
    wait_until,
)

pytestmark = pytest.mark.integration


def _primary(c: Cluster) -> int | None:
    for no, port in enumerate(c.tracker_ports, start=1):
        status, body = http_request(port, "GET", "/healthz", timeout=2)
        if status == 200 and json.loads(body)["role"] == "primary":
            return no
    return None  # between a primary's death and the next election


def test_a_download_running_while_the_primary_is_killed_completes(tmp_path: Path) -> None:
    with Cluster(tmp_path, trackers=2, tracker_args=(*FAST_TRACKER_ARGS, "--tracker-timeout", "1")) as c:
        c.start_tracker(1)
        c.start_tracker(2)
        alice, bob = c.start_node("alice"), c.start_node("bob")
        alice.login()
        bob.login()
        group_with_members(alice, [bob], "g1")
        src = make_file(tmp_path / "share" / "big.bin", 64 * MiB, seed=3)
        alice.ok(f"upload_file {shlex.quote(str(src))} g1")
        primary = wait_until(lambda: _primary(c), 10, "a primary")
        assert primary is not None
        bob.ok(f"download_file g1 big.bin {shlex.quote(str(tmp_path))}")
        state = wait_until(lambda: bob.downloads().get("big.bin", {}).get("state"), 10, "the download to start",
                           interval=0.01)
        assert state == "D"  # still running when the primary dies
        c.trackers[primary].stop(signal.SIGKILL)
        bob.wait_download("big.bin", timeout=120)
        assert sha256_file(tmp_path / "big.bin") == sha256_file(src)
        wait_until(lambda: _primary(c) == 3 - primary, 10, "the other tracker to be primary")
