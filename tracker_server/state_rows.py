"""The in-memory ``State`` built from the rows of the state tables and the log (``build_state``: rows in, a State
out), and read so in a worker thread (``read_state``).

Why apart from ``store.py``: with a big log this is seconds of CPU (every op and result of the log is parsed again,
every file's piece hashes cut up), and it runs after a snapshot's install on a tracker that must keep answering
pings and heartbeats meanwhile. ``build_state`` is a plain Python loop, one small ``json.loads`` at a time, so a
worker thread running it hands the GIL back to the event loop every switch interval instead of holding it for the
whole build. The rows are read in that thread too, from a connection of its own in one read transaction (WAL: a
view of what is committed, without the store's lock), a row at a time from the cursor: they were read whole on
aiosqlite's thread into lists, held at once (hundreds of MB for a big log) and freed on the event loop when the
build returned, one deallocation of every row in a single call (a stall that grew with the state).

The cyclic GC: a build allocates a million objects and more (a file's piece hashes each), and collections that
run meanwhile hold the GIL while they walk them (tens of ms each, more as the state grows; measured). The tracker
process keeps its durable state out of the collector (``__main__._tune_gc``: ``gc.freeze`` once it is loaded), so
a state built in a process that does so is built with collections paused and frozen as it is done: the state has
no cycles to free, and the collections that would have walked it are not run. Left unfrozen, it would also be
walked by every full collection from then on (the recurring 50-70 ms pause ``_tune_gc`` was made to end). The price:
``gc.freeze`` takes whatever else is live with it, so the cyclic garbage of the requests served during the build (a
second or so of them, once a snapshot or reload) is never collected (``_tune_gc`` collects before it freezes; here
that would walk the state just built). A process that does not freeze (the tests) keeps its collector as it is:
unfrozen, a state built with collections paused would be walked whole by the next young collection.
"""

from __future__ import annotations

import contextlib
import gc
import json
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tracker_server.snapshot_read import COMPACTED_EPOCH, COMPACTED_INDEX
from tracker_server.state import Group, Session, SharedFile, State, asked_for
from wire.login_throttle import Failures
from wire.records import FileMeta

Rows = Iterable[Sequence[Any]]
# What each field of ``StateRows`` is read with, in its column order.
SELECTS = {
    "users": "SELECT user_id, pw_hash FROM users",
    "sessions": "SELECT token, user_id, peer_addr, fingerprint FROM sessions",
    "groups": "SELECT group_id, owner FROM groups_",
    "group_created": "SELECT group_id, idx FROM group_created",
    "members": "SELECT group_id, user_id, joined_seq FROM members",
    "requests": "SELECT group_id, user_id, seq FROM requests",
    "files": "SELECT group_id, file_name, size, piece_size, sha256, piece_hashes FROM files",
    "shares": "SELECT group_id, file_name, user_id FROM shares",
    "login_failures": "SELECT key, count, last_at, locked_until FROM login_failures ORDER BY rowid",  # oldest first
    "log": "SELECT epoch, idx, op_id, op, result FROM log",
}


@dataclass
class StateRows:
    """What ``read_state`` reads, in the column order of ``SELECTS``."""

    users: Rows
    sessions: Rows
    groups: Rows
    group_created: Rows
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
    for group_id, idx in rows.group_created:
        # A row without its group: left by a tracker of the release before (run in between), which knew nothing
        # of the table and deleted groups without it.
        if (group := state.groups.get(group_id)) is not None:
            group.created = int(idx)
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


def read_state(path: Path) -> State:
    """The state of the database at ``path``, read and built in the calling (worker) thread, in one read
    transaction of a connection of its own."""
    with _out_of_collections():
        return _read_state(path)


def _read_state(path: Path) -> State:
    conn = sqlite3.connect(str(path), isolation_level=None)
    try:
        conn.execute("PRAGMA query_only=ON")
        conn.execute("BEGIN")  # deferred: the first SELECT fixes the view every later one sees; close() ends it
        meta = dict(conn.execute("SELECT key, value FROM meta WHERE key IN (?, ?, ?)",
                                 (COMPACTED_INDEX, COMPACTED_EPOCH, "epoch")).fetchall())
        rows = {name: _lazy(conn, sql) for name, sql in SELECTS.items()}
        return build_state(StateRows(
            **rows, compaction_point=(int(meta.get(COMPACTED_INDEX, 0)), int(meta.get(COMPACTED_EPOCH, 0))),
            stored_epoch=int(meta.get("epoch", 0) or 0)))
    finally:
        conn.close()


def _lazy(conn: sqlite3.Connection, sql: str) -> Iterator[tuple[Any, ...]]:
    """The rows of ``sql``, selected when ``build_state`` comes to them and handed over one at a time."""
    yield from conn.execute(sql)


def release(state: State) -> None:
    """Empty a state that was replaced, an entry at a time, so that its objects are freed in steps by the calling
    (worker) thread: dropped at once, a state of 20,000 shares was one deallocation in a single call, 30 ms and
    more with the event loop stopped, growing with the state. Only for a state no one reads any more: a
    secondary's, replaced by a snapshot (its reads are answered without an await between looking at the state and
    answering; its writes go to the primary)."""
    for table in (state.results, state.sessions, state.session_of_user, state.users, state.login_failures):
        while table:
            table.popitem()
    while state.groups:
        _, group = state.groups.popitem()
        while group.files:
            group.files.popitem()
        group.members.clear()
        group.requests.clear()


_builds_lock = threading.Lock()
_builds = 0  # builds under way with collections paused
_collecting = True  # whether collections ran before the first of them


@contextlib.contextmanager
def _out_of_collections() -> Iterator[None]:
    """Collections paused while a build runs, and what it built frozen, in a process that freezes its state
    (the module's docstring). Builds may overlap (a reload during a snapshot's): the last one out resumes them."""
    global _builds, _collecting
    if gc.get_freeze_count() == 0:
        yield
        return
    with _builds_lock:
        if _builds == 0:
            _collecting = gc.isenabled()
            gc.disable()
        _builds += 1
    try:
        yield
    finally:
        with _builds_lock:
            gc.freeze()  # the state built (and whatever else is live): out of every collection, as at start
            _builds -= 1
            if _builds == 0 and _collecting:
                gc.enable()
