"""Quotas on what one user can make the tracker hold: groups per user and pending join requests.

Theory of operation: every durable fact costs memory on every tracker (state is served from memory) and a log
entry, so one account must not be able to grow it without bound: a user belongs to (or owns) at most
``groups_per_user`` groups, has at most ``pending_per_user`` join requests waiting, and a group holds at most
``pending_per_group`` requests (an owner's request list stays readable even when a crowd asks to join). Ids and
file names are already capped by ``wire.names`` (64 characters, 255 bytes) and bodies by the tracker's body cap.
The checks are pure and run inside the service's synchronous ``decide``, so two concurrent requests cannot both
squeeze under a limit. A refusal is 409 ``conflict``, which every write route documents.
"""

from __future__ import annotations

from dataclasses import dataclass

from tracker_server.state import Group, State
from wire.errors import Conflict


@dataclass(frozen=True, slots=True)
class Quotas:
    groups_per_user: int = 200
    pending_per_user: int = 50
    pending_per_group: int = 500

    def _memberships(self, state: State, user_id: str) -> tuple[int, int]:
        member = pending = 0
        for group in state.groups.values():
            member += user_id in group.members
            pending += user_id in group.requests
        return member, pending

    def check_create_group(self, state: State, user_id: str) -> None:
        member, _ = self._memberships(state, user_id)
        if member >= self.groups_per_user:
            raise Conflict(f"you are in {member} groups already (at most {self.groups_per_user}); leave one first")

    def check_join(self, state: State, group: Group, user_id: str) -> None:
        member, pending = self._memberships(state, user_id)
        if member >= self.groups_per_user:
            raise Conflict(f"you are in {member} groups already (at most {self.groups_per_user}); leave one first")
        if pending >= self.pending_per_user:
            raise Conflict(f"you have {pending} join requests waiting (at most {self.pending_per_user})")
        if len(group.requests) >= self.pending_per_group:
            raise Conflict(f"{group.group_id} has too many join requests waiting; try again later")
