"""The group and file writes of the tracker's service: create, join, leave, answer a request, share, stop sharing.

A mixin of ``TrackerService`` (``service.py``: the write path, its theory of operation and the plumbing these use),
split out so each module is about one thing. Each method checks the session, then writes through ``_write`` with
a ``decide`` that checks the rules and builds the op with no ``await`` between the check and the apply.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING

from tracker_server.liveness import Liveness
from tracker_server.op_result import OpResult
from tracker_server.quotas import Quotas
from tracker_server.state import Group, Op, Session, State
from wire.errors import Conflict, Forbidden, NotFound
from wire.names import check_new_file_name
from wire.records import FileMeta


class GroupOps:
    state: State
    quotas: Quotas
    liveness: Liveness

    if TYPE_CHECKING:  # provided by TrackerService
        def now(self) -> float: ...
        def session(self, token: str | None) -> Session: ...
        def group(self, group_id: str) -> Group: ...
        def member_group(self, session: Session, group_id: str) -> Group: ...
        def owner_group(self, session: Session, group_id: str) -> Group: ...
        async def _write(self, op_id: str, kind: str, decide: Callable[[], tuple[Op, OpResult]],
                         prepare: Callable[[], Awaitable[None]] | None = None, request: tuple[str, ...] = (),
                         by: str | None = None) -> OpResult: ...

    # ------------------------------------------------------------------------------------------ groups

    async def create_group(self, op_id: str, token: str | None, group_id: str) -> OpResult:
        user = self.session(token).user_id

        def decide() -> tuple[Op, OpResult]:
            if group_id in self.state.groups:
                raise Conflict(f"group id {group_id} is taken")
            refuse_case_twin("group", group_id, self.state.groups)
            self.quotas.check_create_group(self.state, user)
            return {"g": group_id, "u": user}, OpResult(201, {"group_id": group_id})

        return await self._write(op_id, "create_group", decide, request=(user, group_id), by=user)

    async def join_group(self, op_id: str, token: str | None, group_id: str) -> OpResult:
        user = self.session(token).user_id

        def decide() -> tuple[Op, OpResult]:
            group = self.group(group_id)
            if user in group.members:
                raise Conflict(f"you are already a member of {group_id}")
            if user in group.requests:
                raise Conflict(f"your request to join {group_id} is already pending")
            self.quotas.check_join(self.state, group, user)
            # Which group was asked: a node waiting on the answer tells a group made again under the name by it.
            return {"g": group_id, "u": user}, OpResult(202, {"status": "pending", "created": group.created})

        return await self._write(op_id, "join", decide, request=(user, group_id), by=user)

    async def leave_group(self, op_id: str, token: str | None, group_id: str) -> OpResult:
        user = self.session(token).user_id

        def decide() -> tuple[Op, OpResult]:
            group = self.group(group_id)
            if user not in group.members and user not in group.requests:
                raise Forbidden(f"you are not a member of {group_id}")
            new_owner = group.earliest_member(user) if group.owner == user else None
            deleted = user in group.members and len(group.members) == 1
            op = {"g": group_id, "u": user, "new_owner": new_owner, "deleted": deleted}
            # "withdrawn": the leaver was only asking to join (their request is gone; nothing else changed)
            return op, OpResult(200, {"new_owner": new_owner, "deleted": deleted,
                                      "withdrawn": user not in group.members})

        return await self._write(op_id, "leave", decide, request=(user, group_id), by=user)

    async def decide_request(self, op_id: str, token: str | None, group_id: str, user_id: str,
                             accept: bool) -> OpResult:
        session = self.session(token)

        def decide() -> tuple[Op, OpResult]:
            group = self.owner_group(session, group_id)
            if user_id not in group.requests:
                raise NotFound(f"user {user_id} has no pending request to join {group_id}")
            return {"g": group_id, "u": user_id}, OpResult(200, {})

        return await self._write(op_id, "accept" if accept else "reject", decide,
                                 request=(session.user_id, group_id, user_id), by=session.user_id)

    # ------------------------------------------------------------------------------------------ files

    async def share_file(self, op_id: str, token: str | None, group_id: str, meta: FileMeta) -> OpResult:
        session = self.session(token)

        def decide() -> tuple[Op, OpResult]:
            group = self.member_group(session, group_id)
            existing = group.files.get(meta.file_name)
            if existing is not None and existing.meta != meta:
                raise Conflict(f"group {group_id} already has a different file named {meta.file_name}")
            if existing is None:  # a name listed before the rule for new names may still gain sharers
                check_new_file_name(meta.file_name)
            self.quotas.check_share(self.state, group, session.user_id, meta)
            op = {"g": group_id, "u": session.user_id, "file": meta.to_json()}
            return op, OpResult(201, {"file_name": meta.file_name})

        result = await self._write(op_id, "share", decide,
                                   request=(session.user_id, group_id, json.dumps(meta.to_json(), sort_keys=True)),
                                   by=session.user_id)
        self.liveness.add_whole(session.token, (group_id, meta.sha256), self.now())
        return result

    async def stop_share(self, op_id: str, token: str | None, group_id: str, file_name: str) -> OpResult:
        session = self.session(token)

        def decide() -> tuple[Op, OpResult]:
            group = self.member_group(session, group_id)
            shared = group.files.get(file_name)
            if shared is None or session.user_id not in shared.sharers:
                raise NotFound(f"you do not share {file_name} in {group_id}")
            return {"g": group_id, "u": session.user_id, "name": file_name}, OpResult(200, {})

        return await self._write(op_id, "stop_share", decide, request=(session.user_id, group_id, file_name),
                                 by=session.user_id)


def refuse_case_twin(kind: str, new_id: str, existing: Iterable[str]) -> None:
    """Ids are exact, but one that differs from a taken id only in case (Alice beside alice) would let someone
    pass for another in every list and message: refused, as most services do. A scan, not an index: ids are
    created rarely (a sign-up costs a password hash far dearer than this), and it adds no state to replicate."""
    key = new_id.casefold()
    twin = next((taken for taken in existing if taken.casefold() == key), None)
    if twin is not None:
        raise Conflict(f"{kind} id {new_id} is taken: {twin} exists, and ids differing only in case are refused")
