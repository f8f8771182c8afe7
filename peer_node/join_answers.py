"""Telling a user how the owner answered their request to join a group.

The tracker keeps no record of a refused request: the requester's role just goes back from ``pending`` to
``none``, so without this a refusal looked like nothing at all, and an acceptance only showed if the user went
looking. The node remembers which groups its user asked to join (``requests.json``, kept across restarts) and,
whenever it next sees those groups listed, turns each settled request into an answer the browser shows once:
accepted, declined, or the group is gone. ``settle`` is the pure rule; ``JoinWatch`` keeps the list.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

from peer_node.views import GroupRole

if TYPE_CHECKING:
    from peer_node.state import NodeState


class Answer(StrEnum):
    ACCEPTED = "accepted"
    DECLINED = "declined"
    GONE = "gone"


@dataclass(frozen=True, slots=True)
class JoinAnswer:
    group_id: str
    answer: Answer


def settle(asked: Iterable[str], roles: Mapping[str, GroupRole], complete: bool) -> list[JoinAnswer]:
    """The answers among ``asked`` given the user's role in each group seen (``roles``). ``complete``: ``roles``
    covers every group that exists, so an asked group missing from it is gone (a single group's page is not)."""
    out = []
    for gid in sorted(asked):
        role = roles.get(gid)
        if role is None:
            if complete:
                out.append(JoinAnswer(gid, Answer.GONE))
        elif role in (GroupRole.MEMBER, GroupRole.OWNER):
            out.append(JoinAnswer(gid, Answer.ACCEPTED))
        elif role is GroupRole.NONE:
            out.append(JoinAnswer(gid, Answer.DECLINED))
    return out


class JoinWatch:
    """The node's side: remember requests, settle them when groups are seen, hand each answer out once."""

    def __init__(self, state: NodeState) -> None:
        self.state = state
        self._answers: dict[str, list[JoinAnswer]] = {}  # user id -> answers not yet shown

    async def asked(self, user_id: str, group_id: str) -> None:
        await self.state.set_asked(user_id, self.state.asked.get(user_id, set()) | {group_id})

    async def seen(self, user_id: str, roles: Mapping[str, GroupRole], *, complete: bool) -> None:
        """Groups were listed (all of them when ``complete``, else the ones in ``roles``)."""
        await self._settle(user_id, self.state.asked.get(user_id, set()), roles, complete)

    async def gone(self, user_id: str, group_id: str) -> None:
        """The tracker says ``group_id`` does not exist."""
        if group_id in self.state.asked.get(user_id, set()):
            await self._settle(user_id, {group_id}, {}, True)

    async def _settle(self, user_id: str, candidates: set[str], roles: Mapping[str, GroupRole],
                      complete: bool) -> None:
        asked = self.state.asked.get(user_id, set())
        answers = settle(candidates, roles, complete)
        if answers:
            self._answers.setdefault(user_id, []).extend(answers)
            await self.state.set_asked(user_id, asked - {a.group_id for a in answers})

    def take(self, user_id: str) -> list[JoinAnswer]:
        return self._answers.pop(user_id, [])
