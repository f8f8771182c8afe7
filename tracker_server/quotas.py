"""Quotas on what one user can make the tracker hold: groups, pending join requests and shared files.

Theory of operation: every durable fact costs memory on every tracker (state is served from memory) and a log
entry, so one account must not be able to grow it without bound: a user belongs to (or owns) at most
``groups_per_user`` groups, has at most ``pending_per_user`` join requests waiting, and a group holds at most
``pending_per_group`` requests (an owner's request list stays readable even when a crowd asks to join). A file
listing is the biggest fact (its piece hashes: 32 bytes a piece in memory, 65 in the log), and needs no real
file to make, so a user shares at most ``files_per_user`` listings with at most ``pieces_per_user`` pieces in
all (a node lists about 2,000 pieces for a file of 4 GiB or more, a few for a small one: 200,000 pieces is a
hundred of the largest files or thousands of ordinary ones), and a group holds at most ``files_per_group`` files
(its list stays one readable page). Sharing again what one already shares costs nothing. Ids and file names are
already capped by ``wire.names`` (64 characters, 255 bytes) and bodies by the tracker's body cap.
The checks are pure and run inside the service's synchronous ``decide``, so two concurrent requests cannot both
squeeze under a limit. A refusal is 409 ``conflict``, which every write route documents.
"""

from __future__ import annotations

from dataclasses import dataclass

from tracker_server.state import Group, State
from wire.errors import Conflict
from wire.records import FileMeta


@dataclass(frozen=True, slots=True)
class Quotas:
    groups_per_user: int = 200
    pending_per_user: int = 50
    pending_per_group: int = 500
    files_per_user: int = 2_000
    pieces_per_user: int = 200_000
    files_per_group: int = 5_000

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

    def check_share(self, state: State, group: Group, user_id: str, meta: FileMeta) -> None:
        existing = group.files.get(meta.file_name)
        if existing is not None and user_id in existing.sharers:
            return  # shared again: nothing new to hold
        if existing is None and len(group.files) >= self.files_per_group:
            raise Conflict(f"{group.group_id} has {len(group.files)} files already (at most "
                           f"{self.files_per_group}); a member must stop sharing one first")
        files = pieces = 0
        for other in state.groups.values():
            for shared in other.files.values():
                if user_id in shared.sharers:
                    files += 1
                    pieces += len(shared.meta.piece_hashes)
        if files >= self.files_per_user:
            raise Conflict(f"you share {files} files already (at most {self.files_per_user}); stop sharing one "
                           f"first")
        if pieces + len(meta.piece_hashes) > self.pieces_per_user:
            raise Conflict(f"your shared files already list {pieces} pieces, and this one {len(meta.piece_hashes)} "
                           f"(at most {self.pieces_per_user} in all); stop sharing one first")
