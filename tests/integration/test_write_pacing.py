"""A script's long run of writes through /cmd is paced at the tracker's write rate by the node, not refused: the node
waits out the tracker's 429s itself (``peer_node/tracker_patience.py``). The tracker runs with a small burst and a
short interval so that the run crosses the limit many times in a few seconds."""

from __future__ import annotations

from pathlib import Path

from tests.support.cluster import FAST_TRACKER_ARGS, Cluster

BURST = 100
RUN = 1000  # ten bursts' worth: without the node's own waiting, command 239 was "error: too many changes" (measured)


def test_a_thousand_joins_and_leaves_in_a_row_all_succeed_paced_at_the_trackers_rate(tmp_path: Path) -> None:
    args = (*FAST_TRACKER_ARGS, "--write-burst", str(BURST), "--write-interval", "0.01")
    with Cluster(tmp_path, trackers=1, tracker_args=args) as c:
        c.start_tracker(1)
        alice, bob = c.start_node("alice"), c.start_node("bob")
        alice.login()
        bob.login()
        alice.ok("create_group g1")
        answers = [bob.cmd("join_group g1" if i % 2 == 0 else "leave_group g1") for i in range(RUN)]
        refused = [(i, status, text) for i, (status, text) in enumerate(answers) if status != 200]
        assert refused == [], refused[:3]
        bob.ok("join_group g1")  # the last leave went through: bob can ask again, and is asked about once
        assert alice.ok("list_requests g1").split() == ["bob"]
