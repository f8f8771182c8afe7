"""The in-memory ``State`` built from the rows of the state tables and the log (pure: rows in, a State out).

Why apart from ``store.py``: with a big log this is seconds of CPU (every op and result of the log is parsed again,
every file's piece hashes cut up), and it runs after a snapshot's install on a tracker that must keep answering
pings and heartbeats meanwhile. So ``Store.load_state`` reads the rows under its lock, then runs ``build_state`` in
a worker thread: it is a plain Python loop, one small ``json.loads`` at a time, so the thread hands the GIL back to
the event loop every switch interval instead of holding it for the whole build.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from tracker_server.state import Group, Session, SharedFile, State, asked_for
from wire.login_throttle import Failures
from wire.records import FileMeta

Rows = Sequence[Sequence[Any]]


@dataclass
class StateRows:
    """What ``Store.load_state`` reads, in the column order of its SELECTs (``store.py``)."""

    users: Rows
    sessions: Rows
    groups: Rows
    members: Rows
    requests: Rows
    files: Rows
    shares: Rows
    login_failures: Rows  # oldest first
    log: Rows  # epoch, idx, op_id, op, result
    compaction_point: tuple[int, int]
    stored_epoch: int  # meta "epoch": the highest epoch this tracker has seen (a vote counts it)


def build_state(rows: StateRows) -> State:
    state = State()
    for user_id, pw_hash in rows.users:
        state.users[user_id] = pw_hash
    for token, user_id, peer, fp in rows.sessions:
        state.add_session(Session(token, user_id, peer, fp))
    for group_id, owner in rows.groups:
        state.groups[group_id] = Group(group_id, owner)
    for group_id, user_id, seq in rows.members:
        state.groups[group_id].members[user_id] = int(seq)
    for group_id, user_id, seq in rows.requests:
        state.groups[group_id].requests[user_id] = int(seq)
    for group_id, name, size, piece_size, sha, blob in rows.files:
        hashes = tuple(bytes(blob[i:i + 32]) for i in range(0, len(blob), 32))
        meta = FileMeta(name, int(size), int(piece_size), sha, hashes)
        state.groups[group_id].files[name] = SharedFile(meta)
    for group_id, name, user_id in rows.shares:
        state.groups[group_id].files[name].sharers.add(user_id)
    for key, count, last_at, locked_until in rows.login_failures:
        state.login_failures[key] = Failures(int(count), float(last_at), float(locked_until))
    # The log may start after index 1 (compacted): its position is then the last entry deleted, until it holds
    # a newer one. Elections, appends and /healthz all go by this position.
    state.index, state.last_epoch = rows.compaction_point
    state.epoch = state.last_epoch
    for epoch, idx, op_id, op, result in rows.log:
        state.results[op_id] = (asked_for(json.loads(op)), json.loads(result))
        if int(idx) > state.index:
            state.index, state.last_epoch = int(idx), int(epoch)
        state.epoch = max(state.epoch, int(epoch))
    state.epoch = max(state.epoch, rows.stored_epoch)
    return state
