"""The tracker's reads, answered from memory: group listings, members, files with live seeders, access tokens.

Theory of operation: a seeder of a file is a live session of a user with a durable share of it, unless that
session's last heartbeat reported only some pieces; nodes that report pieces of a file without a durable share
(downloads in progress) are listed with their bitfield so downloaders can swap pieces. Everything is computed
from ``State`` (durable facts) and ``Liveness`` (soft state) with ``now`` passed in; the encoded file listing of
each group is kept in ``svc.listings`` between requests (``listing_cache.py`` says when it is still good).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

from tracker_server.service import TrackerService
from tracker_server.state import Group
from wire.errors import NotFound
from wire.records import FileMeta
from wire.tokens import AccessGrant, mint_token


@dataclass(frozen=True, slots=True)
class GroupSummary:
    group_id: str
    owner: str
    member_count: int
    my_status: str  # owner | member | pending | none
    pending_requests: int  # requests to join waiting for the owner; 0 for anyone else (not theirs to know)
    # Who asks, oldest first (the owner only, as ``pending_requests``): with counts alone, a request withdrawn and
    # another made between two listings looked like no change at all to an owner's open page.
    requesters: list[str]
    created: int | None  # ``Group.created``: a group deleted and made again under its name is another group


@dataclass(frozen=True, slots=True)
class MemberInfo:
    user_id: str
    joined_seq: int
    online: bool
    last_seen: float | None
    addr: str  # the piece-server address of the member's node, "" when it has no session
    fingerprint: str  # that node's certificate fingerprint, "" without one


@dataclass(frozen=True, slots=True)
class GroupInfo:
    group_id: str
    owner: str
    my_status: str
    members: list[MemberInfo]
    created: int | None


@dataclass(frozen=True, slots=True)
class FileListing:
    file_name: str
    size: int
    sha256: str
    live_seeders: int


@dataclass(frozen=True, slots=True)
class Seeder:
    user_id: str
    addr: str
    fingerprint: str
    pieces: bytes | None  # None: the whole file


@dataclass(frozen=True, slots=True)
class FileDetail:
    meta: FileMeta
    seeders: list[Seeder]
    token: str
    token_expires_at: float


def _status(svc: TrackerService, group_id: str, user_id: str) -> str:
    group = svc.state.groups[group_id]
    if group.owner == user_id:
        return "owner"
    if user_id in group.members:
        return "member"
    return "pending" if user_id in group.requests else "none"


def list_groups(svc: TrackerService, token: str | None) -> list[GroupSummary]:
    user = svc.session(token).user_id
    return [GroupSummary(g.group_id, g.owner, len(g.members), _status(svc, g.group_id, user),
                         len(g.requests) if g.owner == user else 0, _requesters(g) if g.owner == user else [],
                         g.created)
            for g in sorted(svc.state.groups.values(), key=lambda g: g.group_id)]


def _requesters(group: Group) -> list[str]:
    return [uid for uid, _ in sorted(group.requests.items(), key=lambda kv: kv[1])]


def group_info(svc: TrackerService, token: str | None, group_id: str) -> GroupInfo:
    user = svc.session(token).user_id
    group = svc.group(group_id)
    now = svc.now()
    members: list[MemberInfo] = []
    if user in group.members:
        for uid, seq in sorted(group.members.items(), key=lambda kv: kv[1]):
            session_token = svc.state.session_of_user.get(uid)
            seen = svc.liveness.seen_at(session_token) if session_token else None
            session = svc.state.sessions.get(session_token) if session_token else None
            members.append(MemberInfo(uid, seq, svc.liveness.is_live(session_token, now), seen,
                                      session.peer_addr if session else "", session.fingerprint if session else ""))
    return GroupInfo(group_id, group.owner, _status(svc, group_id, user), members, group.created)


def list_requests(svc: TrackerService, token: str | None, group_id: str) -> list[str]:
    return _requesters(svc.owner_group(svc.session(token), group_id))


def _seeders(svc: TrackerService, group_id: str, meta: FileMeta, sharers: set[str]) -> list[Seeder]:
    """Live holders of the file, whole-file seeders first, each with what it holds."""
    now = svc.now()
    key = (group_id, meta.sha256)
    out: list[Seeder] = []
    seen: set[str] = set()
    for uid in sorted(sharers):
        token = svc.state.session_of_user.get(uid)
        if token is None or not svc.liveness.is_live(token, now):
            continue
        holds, bits = svc.liveness.sharer_holds(token, key)
        if not holds:
            continue
        session = svc.state.sessions[token]
        out.append(Seeder(uid, session.peer_addr, session.fingerprint, bits))
        seen.add(token)
    members = svc.state.groups[group_id].members
    for token in sorted(svc.liveness.holders_of(key) - seen):
        holder = svc.state.sessions.get(token)
        if holder is None or holder.user_id not in members or not svc.liveness.is_live(token, now):
            continue
        _, bits = svc.liveness.holding(token, key)
        out.append(Seeder(holder.user_id, holder.peer_addr, holder.fingerprint, bits))
    out.sort(key=lambda s: (s.pieces is not None, s.user_id))
    return out


def _whole_seeders(svc: TrackerService, group_id: str, meta: FileMeta, sharers: set[str], now: float) -> set[str]:
    """The sessions of ``_seeders`` that hold the whole file, found without building them."""
    key = (group_id, meta.sha256)
    live = svc.liveness
    counted: set[str] = set()
    for uid in sharers:
        token = svc.state.session_of_user.get(uid)
        if token is not None and live.is_live(token, now) and live.sharer_holds(token, key) == (True, None):
            counted.add(token)
    members = svc.state.groups[group_id].members
    for token in live.holders_of(key):
        if token in counted or live.holding(token, key)[1] is not None or not live.is_live(token, now):
            continue
        session = svc.state.sessions.get(token)
        if session is not None and session.user_id in members:
            counted.add(token)
    return counted


def _listing(svc: TrackerService, group_id: str,
             now: float) -> tuple[list[FileListing], list[FileListing], float]:
    """The group's files with live whole-file seeders, those with none (shared, but every holder is offline), and
    the oldest last-seen stamp among the live seeders."""
    group = svc.state.groups[group_id]
    out: list[FileListing] = []
    offline: list[FileListing] = []
    oldest = math.inf
    for name in sorted(group.files):
        shared = group.files[name]
        counted = _whole_seeders(svc, group_id, shared.meta, shared.sharers, now)
        if counted:
            out.append(FileListing(name, shared.meta.size, shared.meta.sha256, len(counted)))
            oldest = min(oldest, *(svc.liveness.last_seen[t] for t in counted))
        else:
            offline.append(FileListing(name, shared.meta.size, shared.meta.sha256, 0))
    return out, offline, oldest


def list_files(svc: TrackerService, token: str | None, group_id: str) -> list[FileListing]:
    """The files with a live seeder (the contract's ``list_files``)."""
    svc.member_group(svc.session(token), group_id)
    return _listing(svc, group_id, svc.now())[0]


def encode_listing(files: list[FileListing], offline: list[FileListing]) -> bytes:
    """The API answer: ``files`` (the contract's list) and ``offline`` (files no live node holds now, so that a
    member is not left to think they were deleted). By hand: dataclasses.asdict deep-copies."""
    return json.dumps({
        "files": [{"file_name": f.file_name, "size": f.size, "sha256": f.sha256, "live_seeders": f.live_seeders}
                  for f in files],
        "offline": [{"file_name": f.file_name, "size": f.size, "sha256": f.sha256} for f in offline],
    }).encode("utf-8")


def fresh_listing_body(svc: TrackerService, token: str | None, group_id: str) -> bytes:
    """The answer made afresh, with no cache (what the cached one must always equal)."""
    svc.member_group(svc.session(token), group_id)
    files, offline, _ = _listing(svc, group_id, svc.now())
    return encode_listing(files, offline)


def list_files_body(svc: TrackerService, token: str | None, group_id: str) -> bytes:
    """``list_files`` encoded, from the group's cached answer while nothing it depends on has changed."""
    svc.member_group(svc.session(token), group_id)  # every request is checked: the cache is per group
    now = svc.now()
    body = svc.listings.get(svc.state, svc.liveness, group_id, now)
    if body is None:
        files, offline, oldest = _listing(svc, group_id, now)
        body = encode_listing(files, offline)
        svc.listings.put(svc.state, svc.liveness, group_id, now, body, oldest)
    return body


def file_detail(svc: TrackerService, token: str | None, group_id: str, file_name: str) -> FileDetail:
    session = svc.session(token)
    group = svc.member_group(session, group_id)
    shared = group.files.get(file_name)
    if shared is None:
        raise NotFound(f"no file named {file_name} in {group_id}")
    seeders = [s for s in _seeders(svc, group_id, shared.meta, shared.sharers) if s.user_id != session.user_id]
    expires = svc.now() + svc.config.token_ttl
    grant = AccessGrant(session.user_id, group_id, shared.meta.sha256, session.fingerprint, svc.state.epoch,
                        expires)
    return FileDetail(shared.meta, seeders, mint_token(svc.signing_key, grant), float(int(expires)))

