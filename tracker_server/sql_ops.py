"""The SQL twin of ``State.apply``: each log op's writes to the tables, one small function an op kind.

The op was decided when it entered the log (its fields are trusted here), so these only write rows. They must
agree op by op with ``tracker_server.state``'s handlers: tests compare the two through ``Store.digest``. Called
inside ``Store.append``'s transaction, so an entry's rows and the log entry commit together.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import aiosqlite

from tracker_server.state import OP_KINDS, Op, file_meta_from_op

SqlHandler = Callable[[aiosqlite.Connection, Op, int], Awaitable[None]]


async def apply_sql(db: aiosqlite.Connection, op: Op, index: int) -> None:
    handler = _APPLY_SQL.get(op["t"])
    if handler is None:
        raise ValueError(f"unknown op {op['t']!r}")
    await handler(db, op, index)


async def _noop(db: aiosqlite.Connection, op: Op, index: int) -> None:
    """A new primary's first entry: nothing in the tables changes."""


async def _create_user(db: aiosqlite.Connection, op: Op, index: int) -> None:
    await db.execute("INSERT INTO users(user_id, pw_hash) VALUES (?, ?)", (op["u"], op["h"]))


async def _login(db: aiosqlite.Connection, op: Op, index: int) -> None:
    for token in op["drop"]:
        await db.execute("DELETE FROM sessions WHERE token = ?", (token,))
    await db.execute("DELETE FROM sessions WHERE user_id = ?", (op["u"],))
    await db.execute("INSERT INTO sessions(token, user_id, peer_addr, fingerprint) VALUES (?, ?, ?, ?)",
                     (op["token"], op["u"], op["peer"], op["fp"]))
    for key in op.get("clear", ()):
        await db.execute("DELETE FROM login_failures WHERE key = ?", (key,))


async def _login_fail(db: aiosqlite.Connection, op: Op, index: int) -> None:
    for key, (count, last_at, locked_until) in op["rec"].items():
        await db.execute("INSERT OR REPLACE INTO login_failures(key, count, last_at, locked_until) "
                         "VALUES (?, ?, ?, ?)", (key, count, last_at, locked_until))
    for key in op.get("drop", ()):  # records gone stale (throttle.py)
        await db.execute("DELETE FROM login_failures WHERE key = ?", (key,))


async def _logout(db: aiosqlite.Connection, op: Op, index: int) -> None:
    await db.execute("DELETE FROM sessions WHERE token = ?", (op["token"],))


async def _create_group(db: aiosqlite.Connection, op: Op, index: int) -> None:
    await db.execute("INSERT INTO groups_(group_id, owner) VALUES (?, ?)", (op["g"], op["u"]))
    # OR REPLACE: a row of a group long deleted by a tracker of the release before, which knew nothing of the table
    await db.execute("INSERT OR REPLACE INTO group_created(group_id, idx) VALUES (?, ?)", (op["g"], index))
    await db.execute("INSERT INTO members(group_id, user_id, joined_seq) VALUES (?, ?, ?)",
                     (op["g"], op["u"], index))


async def _join(db: aiosqlite.Connection, op: Op, index: int) -> None:
    await db.execute("INSERT INTO requests(group_id, user_id, seq) VALUES (?, ?, ?)", (op["g"], op["u"], index))


async def _leave(db: aiosqlite.Connection, op: Op, index: int) -> None:
    gid, uid = op["g"], op["u"]
    if op["deleted"]:
        for table in ("groups_", "group_created", "members", "requests", "files", "shares"):
            await db.execute(f"DELETE FROM {table} WHERE group_id = ?", (gid,))
        return
    await db.execute("DELETE FROM members WHERE group_id = ? AND user_id = ?", (gid, uid))
    await db.execute("DELETE FROM requests WHERE group_id = ? AND user_id = ?", (gid, uid))
    await db.execute("DELETE FROM shares WHERE group_id = ? AND user_id = ?", (gid, uid))
    await _drop_unshared_files(db, gid)
    if op["new_owner"] is not None:
        await db.execute("UPDATE groups_ SET owner = ? WHERE group_id = ?", (op["new_owner"], gid))


async def _accept(db: aiosqlite.Connection, op: Op, index: int) -> None:
    await db.execute("DELETE FROM requests WHERE group_id = ? AND user_id = ?", (op["g"], op["u"]))
    await db.execute("INSERT INTO members(group_id, user_id, joined_seq) VALUES (?, ?, ?)",
                     (op["g"], op["u"], index))


async def _reject(db: aiosqlite.Connection, op: Op, index: int) -> None:
    await db.execute("DELETE FROM requests WHERE group_id = ? AND user_id = ?", (op["g"], op["u"]))


async def _share(db: aiosqlite.Connection, op: Op, index: int) -> None:
    meta = file_meta_from_op(op["file"])
    await db.execute(
        "INSERT OR IGNORE INTO files(group_id, file_name, size, piece_size, sha256, piece_hashes) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        (op["g"], meta.file_name, meta.size, meta.piece_size, meta.sha256, b"".join(meta.piece_hashes)))
    await db.execute("INSERT OR IGNORE INTO shares(group_id, file_name, user_id) VALUES (?, ?, ?)",
                     (op["g"], meta.file_name, op["u"]))


async def _stop_share(db: aiosqlite.Connection, op: Op, index: int) -> None:
    await db.execute("DELETE FROM shares WHERE group_id = ? AND file_name = ? AND user_id = ?",
                     (op["g"], op["name"], op["u"]))
    await _drop_unshared_files(db, op["g"])


async def _drop_unshared_files(db: aiosqlite.Connection, gid: str) -> None:
    await db.execute("DELETE FROM files WHERE group_id = ? AND NOT EXISTS (SELECT 1 FROM shares s "
                     "WHERE s.group_id = files.group_id AND s.file_name = files.file_name)", (gid,))


_APPLY_SQL: dict[str, SqlHandler] = {
    "noop": _noop,
    "create_user": _create_user, "login": _login, "logout": _logout, "create_group": _create_group,
    "join": _join, "leave": _leave, "accept": _accept, "reject": _reject, "share": _share,
    "stop_share": _stop_share, "login_fail": _login_fail,
}
assert _APPLY_SQL.keys() == OP_KINDS  # every op the in-memory state applies has its SQL twin
