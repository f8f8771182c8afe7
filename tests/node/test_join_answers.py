"""Answers to a user's requests to join: the pure rule, and the node's list kept across restarts."""

from __future__ import annotations

import errno
import json
from pathlib import Path

import pytest

from peer_node import state as state_module
from peer_node.groups_poll import POLL_S, QUIET_POLL_S, GroupsPoll, new_requests, requests_text
from peer_node.join_answers import Answer, JoinAnswer, JoinWatch, Seen, join_answers_text, settle
from peer_node.state import Asked, NodeState
from peer_node.tracker_docs import files_of, groups_of, members_of
from peer_node.views import GroupRole, GroupSummary


def test_each_asked_group_settles_by_the_role_now_seen() -> None:
    roles = {"in": GroupRole.MEMBER, "mine": GroupRole.OWNER, "no": GroupRole.NONE, "wait": GroupRole.PENDING}
    asked: Asked = dict.fromkeys(("in", "mine", "no", "wait", "deleted"))
    assert settle(asked, look(roles), complete=True) == [
        JoinAnswer("deleted", Answer.GONE), JoinAnswer("in", Answer.ACCEPTED), JoinAnswer("mine", Answer.ACCEPTED),
        JoinAnswer("no", Answer.DECLINED)]  # "wait" is still pending: no answer yet
    # one group's page says nothing about the groups it does not show
    assert settle(asked, look({"no": GroupRole.NONE}), complete=False) == [JoinAnswer("no", Answer.DECLINED)]


def test_a_group_made_again_under_the_name_asked_is_not_the_group_asked() -> None:
    asked: Asked = {"lab": 5, "art": 5, "old": None, "new": 7}
    seen = {"lab": Seen(GroupRole.NONE, 9), "art": Seen(GroupRole.MEMBER, 9),  # deleted and made again
            "old": Seen(GroupRole.NONE, 9), "new": Seen(GroupRole.NONE, None)}  # a number unknown: by the role
    assert settle(asked, seen, complete=True) == [
        JoinAnswer("art", Answer.REMADE), JoinAnswer("lab", Answer.REMADE), JoinAnswer("new", Answer.DECLINED),
        JoinAnswer("old", Answer.DECLINED)]
    assert settle({"lab": 5}, {"lab": Seen(GroupRole.NONE, 5)}, complete=False) == \
        [JoinAnswer("lab", Answer.DECLINED)]  # the same group: a refusal
    assert join_answers_text([JoinAnswer("lab", Answer.REMADE)]) == \
        "Group lab was deleted and a new group took its name, so your request to join it is closed."


async def test_the_number_of_the_group_asked_is_kept_and_an_older_requests_file_still_reads(tmp_path: Path) -> None:
    (tmp_path / "requests.json").write_text(json.dumps({"carol": ["g1", 7], "dave": {"g2": 4, "g3": "x"},
                                                        "erin": "junk", "fay": []}), "utf-8")
    state = NodeState(tmp_path)
    state.load()  # a list: from before creation numbers (unknown); a malformed number is unknown too
    assert state.asked == {"carol": {"g1": None}, "dave": {"g2": 4, "g3": None}}
    watch = JoinWatch(state)
    await watch.asked("carol", "g4", 12, 1.0)
    again = NodeState(tmp_path)
    again.load()
    assert again.asked["carol"] == {"g1": None, "g4": 12}
    watch = JoinWatch(again)
    await watch.seen("carol", {"g4": Seen(GroupRole.NONE, 13)}, complete=False, listed_at=2.0)
    assert watch.take("carol") == [JoinAnswer("g4", Answer.REMADE)]
    assert groups_of({"groups": [{"group_id": "g", "created": 3}, {"group_id": "h", "created": True},
                                 {"group_id": "i", "created": "3"}, {"group_id": "j"}]}) == [
        GroupSummary("g", "", 0, GroupRole.NONE, 0, None, 3), GroupSummary("h", "", 0, GroupRole.NONE),
        GroupSummary("i", "", 0, GroupRole.NONE), GroupSummary("j", "", 0, GroupRole.NONE)]


def look(roles: dict[str, GroupRole]) -> dict[str, Seen]:
    """Groups as a listing from a tracker that gives no creation numbers shows them."""
    return {gid: Seen(role) for gid, role in roles.items()}


async def test_requests_survive_a_restart_and_each_answer_is_handed_out_once(tmp_path: Path) -> None:
    state = NodeState(tmp_path)
    state.load()
    watch = JoinWatch(state)
    await watch.asked("carol", "g1", None, 1.0)
    await watch.asked("carol", "g2", None, 1.0)
    await watch.asked("dave", "g1", None, 1.0)
    again = NodeState(tmp_path)
    again.load()  # the node restarted before any answer came
    assert again.asked == {"carol": {"g1": None, "g2": None}, "dave": {"g1": None}}
    watch = JoinWatch(again)
    await watch.seen("carol", look({"g1": GroupRole.NONE, "g2": GroupRole.PENDING}), complete=True, listed_at=2.0)
    await watch.gone("dave", "g9", listed_at=2.0)  # never asked: nothing to say
    assert watch.take("dave") == []
    assert watch.take("carol") == [JoinAnswer("g1", Answer.DECLINED)]
    assert watch.take("carol") == []  # once
    await watch.gone("carol", "g2", listed_at=2.0)
    assert watch.take("carol") == [JoinAnswer("g2", Answer.GONE)]
    third = NodeState(tmp_path)
    third.load()
    assert third.asked == {"dave": {"g1": None}}  # carol's requests are all settled


async def test_a_listing_asked_for_before_the_request_was_recorded_settles_nothing(tmp_path: Path) -> None:
    # The page's poll asked the tracker at 10.0; the request's answer came back at 10.5; the poll's listing,
    # answered after, still shows "none" for the group: that is not a refusal.
    state = NodeState(tmp_path)
    state.load()
    watch = JoinWatch(state)
    await watch.asked("carol", "g", None, 10.5)
    await watch.seen("carol", look({"g": GroupRole.NONE}), complete=True, listed_at=10.0)
    await watch.gone("carol", "g", listed_at=10.0)
    assert watch.take("carol") == [] and state.asked == {"carol": {"g": None}}
    await watch.seen("carol", look({"g": GroupRole.MEMBER}), complete=True, listed_at=11.0)
    assert watch.take("carol") == [JoinAnswer("g", Answer.ACCEPTED)]


async def test_every_open_page_hears_each_answer_and_a_page_load_only_the_unheard(tmp_path: Path) -> None:
    state = NodeState(tmp_path)
    state.load()
    watch = JoinWatch(state)
    await watch.asked("carol", "g", None, 1.0)
    await watch.asked("carol", "h", None, 1.0)
    leaving, staying = watch.last_seq, watch.last_seq  # two pages' streams (one of a page being left)
    await watch.seen("carol", look({"g": GroupRole.MEMBER}), complete=False, listed_at=2.0)
    got, leaving = watch.since("carol", leaving)
    assert got == [JoinAnswer("g", Answer.ACCEPTED)]
    got, staying = watch.since("carol", staying)
    assert got == [JoinAnswer("g", Answer.ACCEPTED)]  # not taken away by the other stream
    assert watch.since("carol", staying) == ([], staying)
    watch.shown("carol", staying)
    assert watch.take("carol") == []  # a page showed it: the next page load does not repeat it
    await watch.seen("carol", look({"h": GroupRole.NONE}), complete=False, listed_at=3.0)
    assert watch.since("dave", staying)[0] == []  # another user's page hears nothing of carol's
    assert watch.take("carol") == [JoinAnswer("h", Answer.DECLINED)]  # no page was open: the next load says it


def test_polls_are_spaced_and_only_while_there_can_be_news() -> None:
    poll = GroupsPoll()
    assert poll.due(100.0, waiting=False, owned=None)  # never listed in this run: once, to learn what it owns
    assert not poll.due(110.0, waiting=False, owned={})  # owns nothing and waits for nothing: rarely
    assert poll.due(100.0 + QUIET_POLL_S, waiting=False, owned={})  # (it may have been made an owner elsewhere)
    assert poll.due(200.0, waiting=True, owned={})
    assert not poll.due(200.0 + POLL_S - 0.1, waiting=True, owned={})  # another tab, a moment later
    assert poll.due(200.0 + POLL_S, waiting=False, owned={"lab": 0})  # an owner hears of new requests


def test_new_requests_are_told_per_group() -> None:
    assert new_requests({"lab": 1, "art": 0}, {"lab": 3, "art": 0, "new": 1}) == {"lab": 2, "new": 1}
    assert new_requests({"lab": 2}, {"lab": 1}) == {}  # one was answered: no news
    assert requests_text({"lab": 2, "new": 1}) == "2 new requests to join lab. A new request to join new."
    assert requests_text({"lab-10": 1, "lab-9": 1, "lab-11": 2}) == \
        "4 new requests to join lab-9, lab-10 and 1 more group."
    assert requests_text({f"g{i}": 1 for i in range(5)}) == "5 new requests to join g0, g1 and 3 more groups."


def test_a_request_withdrawn_and_another_made_between_two_looks_is_one_new_request() -> None:
    # Same count before and after: by name, bob's request is new (carol's went); without names, nothing to tell.
    assert new_requests({"lab": 1}, {"lab": 1}, {"lab": ("carol",)}, {"lab": ("bob",)}) == {"lab": 1}
    assert new_requests({"lab": 2}, {"lab": 1}, {"lab": ("carol", "bob")}, {"lab": ("bob",)}) == {}
    assert new_requests({"lab": 1}, {"lab": 1}, {}, {"lab": ("bob",)}) == {}  # not named before: by the counts
    doc: dict[str, object] = {"groups": [{"group_id": "lab", "my_status": "owner", "pending_requests": 1,
                                          "requesters": ["bob"]},
                                         {"group_id": "old", "my_status": "owner", "pending_requests": 1},
                                         {"group_id": "bad", "my_status": "owner", "requesters": [7]}]}
    assert [g.requesters for g in groups_of(doc)] == [("bob",), None, None]  # an older tracker names no one


def test_the_notice_says_each_answer() -> None:
    text = join_answers_text([JoinAnswer("a", Answer.ACCEPTED), JoinAnswer("b", Answer.DECLINED),
                              JoinAnswer("c", Answer.GONE)])
    assert text == ("You are in a: your request to join was accepted. Your request to join b was declined. "
                    "Group c no longer exists, so your request to join it is closed.")
    assert join_answers_text([]) == ""


def test_a_malformed_tracker_answer_is_read_defensively() -> None:
    doc: dict[str, object] = {"groups": [{"group_id": "g", "owner": "o", "member_count": 2, "my_status": "member"},
                                         "junk", {"group_id": "h", "member_count": "many", "my_status": "emperor"}]}
    groups = groups_of(doc)
    assert [(g.group_id, g.member_count, g.my_role) for g in groups] == [("g", 2, GroupRole.MEMBER),
                                                                         ("h", 0, GroupRole.NONE)]
    assert groups_of({"groups": "nope"}) == [] and files_of({}) == []
    members = members_of({"members": [{"user_id": "o", "online": True, "last_seen": "x"}, 7]}, "o")
    assert len(members) == 1 and members[0].is_owner and members[0].last_seen is None


async def test_an_answer_a_closed_pages_stream_read_but_could_not_send_is_shown_by_the_next_page_load(
        tmp_path: Path) -> None:
    state = NodeState(tmp_path)
    state.load()
    watch = JoinWatch(state)
    await watch.asked("carol", "g", None, 1.0)
    closed = watch.last_seq
    await watch.seen("carol", look({"g": GroupRole.MEMBER}), complete=False, listed_at=2.0)
    got, _ = watch.since("carol", closed)  # its write then fails: the stream never calls ``shown``
    assert got == [JoinAnswer("g", Answer.ACCEPTED)]
    assert watch.take("carol") == [JoinAnswer("g", Answer.ACCEPTED)]
    assert watch.take("carol") == []  # once
    await watch.asked("carol", "h", None, 3.0)
    await watch.seen("carol", look({"h": GroupRole.NONE}), complete=False, listed_at=4.0)
    watch.shown("dave", watch.last_seq)  # another user's page marks nothing of carol's
    assert watch.take("carol") == [JoinAnswer("h", Answer.DECLINED)]


async def test_an_answer_found_while_the_disk_is_full_is_told_once_and_the_listing_still_works(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A listing only reads: a full data dir must not make it fail (it did, with 503, on every list_groups),
    nor tell the same answer at each listing because the settled request could not be written down."""
    state = NodeState(tmp_path)
    state.load()
    watch = JoinWatch(state)
    await watch.asked("carol", "g1", None, 1.0)

    def full(path: Path, data: bytes, mode: int = 0o600) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(state_module, "write_atomic", full)
    for listed_at in (2.0, 3.0):
        await watch.seen("carol", look({"g1": GroupRole.MEMBER}), complete=True, listed_at=listed_at)
    assert watch.take("carol") == [JoinAnswer("g1", Answer.ACCEPTED)]  # once, not once per listing
    assert state.asked == {}
    monkeypatch.undo()
    again = NodeState(tmp_path)
    again.load()
    assert again.asked == {"carol": {"g1": None}}  # on disk still asked: a restart may tell it once more
