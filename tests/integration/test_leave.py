"""Leaving a group says what it did to the group; logging in again as the same user is no error."""

from __future__ import annotations

import json

from tests.support.cluster import Cluster, group_with_members


def test_leaving_says_who_owns_the_group_now_or_that_it_is_deleted(cluster: Cluster) -> None:
    alice, bob = cluster.start_node("alice"), cluster.start_node("bob")
    for n in (alice, bob):
        n.login()
    group_with_members(alice, [bob], "g1")
    assert alice.ok("leave_group g1") == "left g1 (bob owns it now)\n"
    assert bob.ok("leave_group g1") == "left g1 (you were its last member: the group is deleted)\n"
    assert "g1" not in bob.ok("list_groups")


def test_leaving_a_group_one_only_asked_to_join_withdraws_the_request(cluster: Cluster) -> None:
    alice, bob = cluster.start_node("alice"), cluster.start_node("bob")
    for n in (alice, bob):
        n.login()
    alice.ok("create_group g2")
    bob.ok("join_group g2")
    assert bob.ok("leave_group g2") == "withdrew your request to join g2\n"
    assert alice.ok("list_requests g2") == ""
    assert "g2\talice\t1\tnone" in bob.ok("list_groups")
    assert json.loads((bob.data_dir / "requests.json").read_text("utf-8")) == {}  # no "declined" to tell later


def test_logging_in_again_as_the_same_user_checks_the_password_and_is_no_error(cluster: Cluster) -> None:
    alice = cluster.start_node("alice")
    alice.login()
    assert alice.ok(f"login alice {alice.password}") == "logged in as alice\n"  # a script run twice
    st, text = alice.cmd("login alice wrong-password-1")
    assert st == 401 and text.startswith("error: "), (st, text)
    assert alice.api("/api/status")["user_id"] == "alice"  # still logged in: a wrong password changes nothing
    alice.ok("create_user bob bob-pw-12345")
    st, text = alice.cmd("login bob bob-pw-12345")
    assert st == 409 and "already logged in as alice" in text  # another user still needs a logout first
