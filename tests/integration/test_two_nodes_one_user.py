"""One user, two nodes in turn (a lab PC and a laptop): what the user ends on one node ends on the other too.
The contract: a node holding a whole file is a seeder of it "until stop_share, leave_group or logout", and a
leaver's shares end. Ended from the laptop while the lab PC was logged out, the PC's shares were served on with no
way to stop them (stop_share answered 403, then 404), and came back to the group after a re-join."""

from __future__ import annotations

import shlex
from pathlib import Path

from tests.support.cluster import Cluster, Node, lab_pair, make_file, wait_until


def _switch(frm: Node, to: Node, user: Node) -> None:
    """Log ``user`` out of ``frm`` and in on ``to`` (one live node a user)."""
    frm.ok("logout")
    to.ok(f"login {user.name} {shlex.quote(user.password)}")


def test_shares_ended_from_another_node_of_the_user_end_on_this_one_too(tmp_path: Path) -> None:
    with Cluster(tmp_path / "c") as c:
        alice, bob = lab_pair(c)
        laptop = c.start_node("laptop")
        for name in ("kept.bin", "stopped.bin"):
            bob.ok(f"upload_file {shlex.quote(str(make_file(tmp_path / 'pc' / name, 100_000, 3)))} lab")
        alice.ok("create_group other")
        bob.ok("join_group other")
        alice.ok("accept_request other bob")
        bob.ok(f"upload_file {shlex.quote(str(make_file(tmp_path / 'pc' / 'left.bin', 100_000, 4)))} other")

        # On the laptop: stop one share of the PC's, and leave the other group.
        _switch(bob, laptop, bob)
        laptop.ok("stop_share lab stopped.bin")
        laptop.ok("leave_group other")
        _switch(laptop, bob, bob)

        # Back on the PC: the group it left is listed at login, and its share there ends by itself ...
        def shares() -> list[str]:
            return sorted(f"{s['group_id']}/{s['file_name']}" for s in bob.api("/api/status")["shares"])

        wait_until(lambda: shares() == ["lab/kept.bin", "lab/stopped.bin"], 30, "the share in 'other' to end")
        assert "share other/left.bin ended: bob is no longer a member of other" in \
            (c.tmp / "logs" / "node-bob.log").read_text("utf-8")
        # ... and the one stopped from the laptop can be stopped here (it was refused: "you do not share it")
        assert bob.ok("stop_share lab stopped.bin") == ("stopped sharing stopped.bin in lab on this node (the tracker "
                                                        "had it as not shared by you: ended from another node)\n")
        assert shares() == ["lab/kept.bin"]
        wait_until(lambda: [line.split("\t")[0] for line in alice.ok("list_files lab").splitlines()] == ["kept.bin"],
                   30, "alice's list to lose stopped.bin")
        bob.ok("join_group other")  # re-joining does not bring the ended share back
        alice.ok("accept_request other bob")
        assert alice.ok("list_files other") == "" and shares() == ["lab/kept.bin"]
