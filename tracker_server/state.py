"""The tracker's durable facts in memory, and the one function that applies a log entry to them.

Theory of operation: every mutation of durable state is a log ``Entry`` (epoch, index, op_id, op, result). An op
is fully decided when it is made (the service computes the new owner of a group, the files that disappear, the
sessions a login replaces), so applying it needs no further rule and gives the same state on every tracker:
``State.apply`` here and ``sql_ops.apply_sql`` in SQLite must agree op by op. Reads are answered from this object
(a SELECT per request costs five times a dict lookup, PERF.md); SQLite is for durability. Pure: no I/O, no clock.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from wire.login_throttle import Failures, apply_records
from wire.records import FileMeta

Op = dict[str, Any]


def request_digest(*parts: str) -> str:
    """What a write asked for, and for whom (the caller and the arguments), as the ``rq`` of its op: a retry of
    it carries the same, another request under the same op_id does not (``asked_for``)."""
    return hashlib.sha256("\0".join(parts).encode("utf-8", "surrogateescape")).hexdigest()[:32]


def asked_for(op: Op) -> str:
    """The kind of an op and its request digest: what a retry under its op_id must ask for again to be answered
    from the log. Ops logged before digests existed have the kind alone."""
    return f"{op['t']}:{op['rq']}" if "rq" in op else str(op["t"])


@dataclass(frozen=True, slots=True)
class Entry:
    """One log entry. ``result`` is the API answer of the op (``{"status", "body"}``), kept for op_id retries."""

    epoch: int
    index: int
    op_id: str
    op: Op
    result: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {"epoch": self.epoch, "index": self.index, "op_id": self.op_id, "op": self.op, "result": self.result}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Entry:
        return cls(int(data["epoch"]), int(data["index"]), str(data["op_id"]), dict(data["op"]),
                   dict(data["result"]))


@dataclass(slots=True)
class Session:
    token: str
    user_id: str
    peer_addr: str
    fingerprint: str


@dataclass(slots=True)
class SharedFile:
    meta: FileMeta
    sharers: set[str] = field(default_factory=set)


@dataclass(slots=True)
class Group:
    group_id: str
    owner: str
    members: dict[str, int] = field(default_factory=dict)  # user -> joined_seq (log index of admission)
    requests: dict[str, int] = field(default_factory=dict)  # user -> seq of the request
    files: dict[str, SharedFile] = field(default_factory=dict)
    # The log index of the group's creation: one name is one group only until it is deleted, and a node that asked
    # to join tells a group made again under that name (``peer_node/join_answers.py``) by it. None: made before
    # trackers kept it.
    created: int | None = None

    def earliest_member(self, excluding: str) -> str | None:
        rest = [(seq, uid) for uid, seq in self.members.items() if uid != excluding]
        return min(rest)[1] if rest else None


@dataclass(slots=True)
class State:
    users: dict[str, str] = field(default_factory=dict)  # user -> password hash
    sessions: dict[str, Session] = field(default_factory=dict)  # token -> session
    session_of_user: dict[str, str] = field(default_factory=dict)  # user -> token
    groups: dict[str, Group] = field(default_factory=dict)
    # op_id -> (what it asked for: ``asked_for``, its result)
    results: dict[str, tuple[str, dict[str, Any]]] = field(default_factory=dict)
    login_failures: dict[str, Failures] = field(default_factory=dict)  # throttle key -> record (throttle.py)
    epoch: int = 0  # the current epoch (term): the newest this tracker knows of
    index: int = 0  # index of the newest entry applied
    last_epoch: int = 0  # epoch of that entry: (last_epoch, index) orders logs by how up to date they are
    version: int = 0  # moves with every applied entry: readers cache what they derive from this state by it

    def add_session(self, session: Session) -> None:
        self.sessions[session.token] = session
        self.session_of_user[session.user_id] = session.token

    def drop_session(self, token: str) -> None:
        session = self.sessions.pop(token, None)
        if session is not None and self.session_of_user.get(session.user_id) == token:
            del self.session_of_user[session.user_id]

    def apply(self, entry: Entry) -> None:
        """Apply one decided entry. Entries arrive in index order; the op's fields are trusted here."""
        op = entry.op
        kind = op["t"]
        handler = _APPLY[kind]
        self.version += 1  # before the change: a half-applied entry (an exception) must not look unchanged
        handler(self, op, entry.index)
        self.results[entry.op_id] = (asked_for(op), entry.result)
        self.index = entry.index
        self.last_epoch = entry.epoch
        self.epoch = max(self.epoch, entry.epoch)


def _noop(s: State, op: Op, index: int) -> None:
    """A new primary's first entry: it makes the new epoch the newest in the log (see replication.py)."""


def _create_user(s: State, op: Op, index: int) -> None:
    s.users[op["u"]] = op["h"]


def _login(s: State, op: Op, index: int) -> None:
    for token in op["drop"]:
        s.drop_session(token)
    s.add_session(Session(op["token"], op["u"], op["peer"], op["fp"]))
    for key in op.get("clear", ()):  # a successful login clears its account's failed-login record
        s.login_failures.pop(key, None)


def _login_fail(s: State, op: Op, index: int) -> None:
    apply_records(s.login_failures, op)


def _logout(s: State, op: Op, index: int) -> None:
    s.drop_session(op["token"])


def _create_group(s: State, op: Op, index: int) -> None:
    s.groups[op["g"]] = Group(op["g"], op["u"], members={op["u"]: index}, created=index)


def _join(s: State, op: Op, index: int) -> None:
    s.groups[op["g"]].requests[op["u"]] = index


def _leave(s: State, op: Op, index: int) -> None:
    group = s.groups[op["g"]]
    if op["deleted"]:
        del s.groups[op["g"]]
        return
    group.members.pop(op["u"], None)
    group.requests.pop(op["u"], None)
    for name in list(group.files):
        group.files[name].sharers.discard(op["u"])
        if not group.files[name].sharers:
            del group.files[name]
    if op["new_owner"] is not None:
        group.owner = op["new_owner"]


def _accept(s: State, op: Op, index: int) -> None:
    group = s.groups[op["g"]]
    del group.requests[op["u"]]
    group.members[op["u"]] = index


def _reject(s: State, op: Op, index: int) -> None:
    del s.groups[op["g"]].requests[op["u"]]


def _share(s: State, op: Op, index: int) -> None:
    group = s.groups[op["g"]]
    meta = file_meta_from_op(op["file"])
    shared = group.files.setdefault(meta.file_name, SharedFile(meta))
    shared.sharers.add(op["u"])


def _stop_share(s: State, op: Op, index: int) -> None:
    group = s.groups[op["g"]]
    shared = group.files[op["name"]]
    shared.sharers.discard(op["u"])
    if not shared.sharers:
        del group.files[op["name"]]


def file_meta_from_op(data: dict[str, Any]) -> FileMeta:
    hashes = tuple(bytes.fromhex(h) for h in data["piece_hashes"])
    return FileMeta(data["file_name"], int(data["size"]), int(data["piece_size"]), data["sha256"], hashes)


_APPLY = {
    "noop": _noop,
    "create_user": _create_user, "login": _login, "logout": _logout, "create_group": _create_group,
    "join": _join, "leave": _leave, "accept": _accept, "reject": _reject, "share": _share,
    "stop_share": _stop_share, "login_fail": _login_fail,
}
OP_KINDS = frozenset(_APPLY)
