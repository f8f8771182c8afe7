"""Answers to a user's requests to join: the pure rule, and the node's list kept across restarts."""

from __future__ import annotations

from pathlib import Path

from peer_node.join_answers import Answer, JoinAnswer, JoinWatch, settle
from peer_node.state import NodeState
from peer_node.tracker_docs import files_of, groups_of, members_of
from peer_node.views import GroupRole
from peer_node.web_ui.format import join_answers_text


def test_each_asked_group_settles_by_the_role_now_seen() -> None:
    roles = {"in": GroupRole.MEMBER, "mine": GroupRole.OWNER, "no": GroupRole.NONE, "wait": GroupRole.PENDING}
    asked = {"in", "mine", "no", "wait", "deleted"}
    assert settle(asked, roles, complete=True) == [
        JoinAnswer("deleted", Answer.GONE), JoinAnswer("in", Answer.ACCEPTED), JoinAnswer("mine", Answer.ACCEPTED),
        JoinAnswer("no", Answer.DECLINED)]  # "wait" is still pending: no answer yet
    # one group's page says nothing about the groups it does not show
    assert settle(asked, {"no": GroupRole.NONE}, complete=False) == [JoinAnswer("no", Answer.DECLINED)]


async def test_requests_survive_a_restart_and_each_answer_is_handed_out_once(tmp_path: Path) -> None:
    state = NodeState(tmp_path)
    state.load()
    watch = JoinWatch(state)
    await watch.asked("carol", "g1")
    await watch.asked("carol", "g2")
    await watch.asked("dave", "g1")
    again = NodeState(tmp_path)
    again.load()  # the node restarted before any answer came
    assert again.asked == {"carol": {"g1", "g2"}, "dave": {"g1"}}
    watch = JoinWatch(again)
    await watch.seen("carol", {"g1": GroupRole.NONE, "g2": GroupRole.PENDING}, complete=True)
    await watch.gone("dave", "g9")  # never asked: nothing to say
    assert watch.take("dave") == []
    assert watch.take("carol") == [JoinAnswer("g1", Answer.DECLINED)]
    assert watch.take("carol") == []  # once
    await watch.gone("carol", "g2")
    assert watch.take("carol") == [JoinAnswer("g2", Answer.GONE)]
    third = NodeState(tmp_path)
    third.load()
    assert third.asked == {"dave": {"g1"}}  # carol's requests are all settled


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
