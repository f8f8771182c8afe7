"""Leaving a group says what it did to the group: who owns it now, or that the last member's leave deleted it."""

from __future__ import annotations

from tests.support.cluster import Cluster, group_with_members


def test_leaving_says_who_owns_the_group_now_or_that_it_is_deleted(cluster: Cluster) -> None:
    alice, bob = cluster.start_node("alice"), cluster.start_node("bob")
    for n in (alice, bob):
        n.login()
    group_with_members(alice, [bob], "g1")
    assert alice.ok("leave_group g1") == "left g1 (bob owns it now)\n"
    assert bob.ok("leave_group g1") == "left g1 (you were its last member: the group is deleted)\n"
    assert "g1" not in bob.ok("list_groups")
