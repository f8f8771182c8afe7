"""Compaction across real tracker processes: a secondary whose log ends before the primary's compaction point (away,
or started empty) is brought level by a snapshot, and an election between a tracker whose log was compacted away
and one that kept its log picks the newer history, not the longer log."""

from __future__ import annotations

import asyncio
import shutil
import time
from pathlib import Path

import pytest

from tests.support.cluster import wait_until

from .cluster import TRACKER_TIMEOUT, Cluster
from .procs import TrackerProc, http, wait_healthy

pytestmark = pytest.mark.integration
# Everything older than the newest 3 entries goes, at once, checked 10 times a second.
COMPACT_HARD = ("--log-keep-entries", "3", "--log-keep-seconds", "0", "--compact-every", "0.1")


class CompactingCluster(Cluster):
    """Trackers started with extra options per number (compaction windows)."""

    def __init__(self, tmp: Path, size: int, options: dict[int, tuple[str, ...]]) -> None:
        super().__init__(tmp, size)
        self.options = options

    def start(self, no: int) -> None:
        self.procs[no] = TrackerProc(self.list_file, no, self.tmp / f"data{no}", "--tracker-timeout",
                                     TRACKER_TIMEOUT, "--peer-timeout", "5", *self.options.get(no, ()))


def _create_users(port: int, prefix: str, count: int) -> None:
    """As a node does: one op_id per user, sent again while the tracker says 503 (a primary settling in)."""
    for i in range(count):
        body = {"user_id": f"{prefix}{i}", "password": f"{prefix}-pw-8421", "op_id": f"op-{prefix}{i}"}
        end = time.monotonic() + 20
        while True:
            status = http(port, "POST", "/api/v1/users", body)[0]
            if status != 503 or time.monotonic() > end:
                break
            time.sleep(0.1)
        assert status == 201, (prefix, i, status)


def _compacted_past(cluster: Cluster, no: int, op_ids: list[str]) -> bool:
    return not set(op_ids) & set(cluster.digest(no)["op_ids"])


async def test_a_secondary_away_past_the_compaction_point_and_an_empty_one_are_brought_level_by_snapshot(
        tmp_path: Path) -> None:
    cluster = CompactingCluster(tmp_path, 3, {no: COMPACT_HARD for no in (1, 2, 3)})
    try:
        await asyncio.to_thread(cluster.start_all)
        primary = await asyncio.to_thread(cluster.wait_primary)
        away = next(no for no in (1, 2, 3) if no != primary)
        port = cluster.ports[primary - 1]
        await asyncio.to_thread(_create_users, port, "before", 5)
        await asyncio.to_thread(cluster.wait_converged, [1, 2, 3])
        cluster.procs[away].stop()
        await asyncio.to_thread(_create_users, port, "while", 10)  # the other two are a majority
        # The primary's log now starts after everything the one away holds.
        await asyncio.to_thread(wait_until, lambda: _compacted_past(cluster, primary, ["op-while0"]), 20,
                                "the primary to compact past the absent tracker's log")

        cluster.start(away)
        digest = await asyncio.to_thread(cluster.wait_converged, [1, 2, 3])
        said = cluster.procs[away].log_path.read_text("utf-8", "replace")
        assert f"replaced this tracker's state with a snapshot from tracker {primary}" in said

        # Started again on an empty data dir: its log (none) ends before the compaction point too.
        cluster.procs[away].stop()
        shutil.rmtree(tmp_path / f"data{away}")
        cluster.start(away)
        assert "empty" in cluster.procs[away].banner
        assert (await asyncio.to_thread(cluster.wait_converged, [1, 2, 3]))["digest"] == digest["digest"]
        await asyncio.to_thread(_create_users, port, "after", 2)  # and it stores new writes as they come
        await asyncio.to_thread(cluster.wait_converged, [1, 2, 3])
    finally:
        cluster.stop_all()


async def test_an_election_picks_the_newer_history_of_a_compacted_log_over_a_longer_older_one(
        tmp_path: Path) -> None:
    # Tracker 2 compacts its whole log away; tracker 1 keeps every entry (the default windows).
    everything = ("--log-keep-entries", "0", "--log-keep-seconds", "0", "--compact-every", "0.1")
    cluster = CompactingCluster(tmp_path, 2, {2: everything})
    try:
        await asyncio.to_thread(cluster.start_all)
        assert await asyncio.to_thread(cluster.wait_primary) == 1
        await asyncio.to_thread(_create_users, cluster.ports[0], "both", 5)
        await asyncio.to_thread(cluster.wait_converged, [1, 2])
        cluster.procs[1].stop()
        await asyncio.to_thread(cluster.wait_primary, [2])
        await asyncio.to_thread(_create_users, cluster.ports[1], "alone", 3)  # acknowledged by tracker 2 alone
        await asyncio.to_thread(wait_until, lambda: cluster.digest(2)["op_ids"] == [], 20,
                                "tracker 2 to compact its whole log")
        newest = (await asyncio.to_thread(cluster.health, 2) or {})["log_index"]
        cluster.procs[2].stop()

        # Both back: tracker 1 holds the longer log, tracker 2 the newer one, which only its compaction point names.
        cluster.start(2)
        cluster.start(1)
        for port in cluster.ports:
            await asyncio.to_thread(wait_healthy, port)
        assert (await asyncio.to_thread(cluster.health, 2) or {})["log_index"] >= newest
        assert await asyncio.to_thread(cluster.wait_primary) == 2
        digest = await asyncio.to_thread(cluster.wait_converged, [1, 2])
        assert digest["log_index"] > newest
        # What tracker 2 acknowledged alone survived, on both: logging in as such a user works on tracker 1's state
        status, _ = await asyncio.to_thread(http, cluster.ports[0], "POST", "/api/v1/sessions",
                                            {"user_id": "alone0", "password": "alone-pw-8421",
                                             "peer_addr": "127.0.0.1:9", "op_id": "op-login"})
        assert status == 200
        assert (await asyncio.to_thread(cluster.health, 2) or {})["role"] == "primary"  # and it stays so
    finally:
        cluster.stop_all()
