"""Telling a user how the owner answered their request to join a group.

The tracker keeps no record of a refused request: the requester's role just goes back from ``pending`` to
``none``, so without this a refusal looked like nothing at all, and an acceptance only showed if the user went
looking. The node remembers which groups its user asked to join (``requests.json``, kept across restarts) and,
whenever it next sees those groups listed, turns each settled request into an answer: accepted, declined, or the
group is gone. A group is told by its name and its creation number (the tracker's ``created``): a group deleted
and made again under its name while a request waited is not the group asked, and its "none" is no refusal. The
next page load shows the answers no page has shown yet; every open page's event stream shows
each answer as it is settled. ``settle`` is the pure rule; ``JoinWatch`` keeps the list.

While a request waits and a page is open, the node also asks by itself (``groups_poll``), so the answer reaches
the open page within seconds (``web_ui/events.py``).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from peer_node.state import Asked, NodeState, StateNotSaved
from peer_node.views import GroupRole

KEEP_ANSWERS = 100  # answers remembered for open pages and the next page load

log = logging.getLogger(__name__)

class Answer(StrEnum):
    ACCEPTED = "accepted"
    DECLINED = "declined"
    GONE = "gone"
    REMADE = "remade"  # deleted, and another group made under its name


@dataclass(frozen=True, slots=True)
class JoinAnswer:
    group_id: str
    answer: Answer


@dataclass(frozen=True, slots=True)
class Seen:
    """A group as a listing showed it: the user's role, and its creation number (None: the tracker did not say)."""

    role: GroupRole
    created: int | None = None


def settle(asked: Asked, seen: Mapping[str, Seen], complete: bool) -> list[JoinAnswer]:
    """The answers among ``asked`` (group -> the creation number of the group asked) given how each group listed
    was seen. ``complete``: ``seen`` covers every group that exists, so an asked group missing from it is gone (a
    single group's page is not). Creation numbers are compared only where both are known."""
    out = []
    for gid in sorted(asked):
        group = seen.get(gid)
        role = group.role if group is not None else None
        number = asked[gid]
        if group is None:
            if complete:
                out.append(JoinAnswer(gid, Answer.GONE))
        elif number is not None and group.created is not None and group.created != number:
            out.append(JoinAnswer(gid, Answer.REMADE))
        elif role in (GroupRole.MEMBER, GroupRole.OWNER):
            out.append(JoinAnswer(gid, Answer.ACCEPTED))
        elif role is GroupRole.NONE:
            out.append(JoinAnswer(gid, Answer.DECLINED))
    return out


@dataclass(slots=True)
class _Logged:
    seq: int
    user_id: str
    answer: JoinAnswer
    shown: bool = False


class JoinWatch:
    """The node's side: remember requests, settle them when groups are seen, hand each answer out once."""

    def __init__(self, state: NodeState) -> None:
        self.state = state
        self._log: list[_Logged] = []  # the latest answers, oldest first
        self._seq = 0
        # When each request was made (monotonic; this run only). A listing the tracker was asked for before the
        # request says nothing about it: its "none" is from before the request, not a refusal.
        self._asked_at: dict[tuple[str, str], float] = {}

    def waiting(self, user_id: str) -> bool:
        """Whether ``user_id`` has asked to join a group and not heard back."""
        return bool(self.state.asked.get(user_id))

    async def asked(self, user_id: str, group_id: str, created: int | None, now: float) -> None:
        """``user_id`` asked to join ``group_id`` (the group of that creation number; None: unknown); ``now`` is
        when the request was sent (monotonic)."""
        self._asked_at[(user_id, group_id)] = now
        try:
            await self.state.set_asked(user_id, {**self.state.asked.get(user_id, {}), group_id: created})
        except StateNotSaved:  # the request stands at the tracker; only its answer will not be told here
            log.warning("the request to join %s is not remembered: the node cannot save its state", group_id)

    async def withdrawn(self, user_id: str, group_id: str) -> None:
        """The user took back the request: forget it (a listing would otherwise report it "declined")."""
        asked = self.state.asked.get(user_id, {})
        if group_id in asked:
            try:
                await self.state.set_asked(user_id, _without(asked, {group_id}))
            except StateNotSaved:
                log.warning("the withdrawn request to join %s stays remembered: the node cannot save its state",
                            group_id)

    async def seen(self, user_id: str, groups: Mapping[str, Seen], *, complete: bool, listed_at: float) -> None:
        """Groups were listed (all of them when ``complete``, else the ones in ``groups``) by a call to the
        tracker made at ``listed_at``."""
        await self._settle(user_id, set(self.state.asked.get(user_id, {})), groups, complete, listed_at)

    async def gone(self, user_id: str, group_id: str, *, listed_at: float) -> None:
        """The tracker says ``group_id`` does not exist (asked at ``listed_at``)."""
        if group_id in self.state.asked.get(user_id, {}):
            await self._settle(user_id, {group_id}, {}, True, listed_at)

    async def _settle(self, user_id: str, candidates: set[str], groups: Mapping[str, Seen],
                      complete: bool, listed_at: float) -> None:
        asked = self.state.asked.get(user_id, {})
        older = {g: asked[g] for g in candidates
                 if g in asked and self._asked_at.get((user_id, g), -math.inf) < listed_at}
        answers = settle(older, groups, complete)
        for answer in answers:
            self._seq += 1
            self._log.append(_Logged(self._seq, user_id, answer))
        del self._log[:-KEEP_ANSWERS]
        if answers:
            try:
                await self.state.set_asked(user_id, _without(asked, {a.group_id for a in answers}), keep_unsaved=True)
            except StateNotSaved:  # a listing must not fail for it (it reads), nor tell the same answers again
                log.warning("answers to requests to join are not remembered on disk: the node cannot save its "
                            "state; a restart may tell them again")

    def take(self, user_id: str) -> list[JoinAnswer]:
        """The user's answers no page has shown yet (a page load shows them in its notice)."""
        return self._hand_out([e for e in self._log if e.user_id == user_id and not e.shown])

    @property
    def last_seq(self) -> int:
        return self._seq

    def since(self, user_id: str, seq: int) -> tuple[list[JoinAnswer], int]:
        """The user's answers settled after ``seq``, shown or not (every open page hears each answer: a page
        being left may still hold a stream for a while), and the seq to ask from next. They count as shown only
        once ``shown`` says a page got them: a stream whose page was just closed must not swallow an answer."""
        return [e.answer for e in self._log if e.user_id == user_id and e.seq > seq], self._seq

    def shown(self, user_id: str, upto: int) -> None:
        """A page was sent the user's answers up to ``upto``: the next page load need not repeat them."""
        self._hand_out([e for e in self._log if e.user_id == user_id and e.seq <= upto])

    @staticmethod
    def _hand_out(entries: list[_Logged]) -> list[JoinAnswer]:
        for entry in entries:
            entry.shown = True
        return [e.answer for e in entries]


def _without(asked: Asked, groups: set[str]) -> Asked:
    return {g: n for g, n in asked.items() if g not in groups}


def join_answers_text(answers: Sequence[JoinAnswer]) -> str:
    """How owners answered the user's requests to join, as the one-shot notice says it ("" for none)."""
    words = {
        Answer.ACCEPTED: "You are in {g}: your request to join was accepted.",
        Answer.DECLINED: "Your request to join {g} was declined.",
        Answer.GONE: "Group {g} no longer exists, so your request to join it is closed.",
        Answer.REMADE: "Group {g} was deleted and a new group took its name, so your request to join it is closed.",
    }
    return " ".join(words[a.answer].format(g=a.group_id) for a in answers)
