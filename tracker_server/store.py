"""All of the tracker's SQL: the log and the tables it produces, in one aiosqlite connection (WAL, one writer).

Theory of operation: ``append`` writes a batch of log entries and applies each op to the tables in ONE
transaction (group commit: many entries, one fsync), so the log and the state can never disagree after a crash.
``load_state`` rebuilds the in-memory ``State`` at start; reads during service come from that object, not from
here. ``sql_ops.apply_sql`` must agree op by op with ``State.apply`` (tests compare the two through ``digest``).
``dump``/``install`` move a whole snapshot between trackers when a log cannot be replayed (issue 5).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import sqlite3
from collections.abc import Iterable
from importlib import resources
from pathlib import Path
from typing import Any

import aiosqlite

from tracker_server.sql_ops import apply_sql
from tracker_server.state import Entry, Group, Session, SharedFile, State, asked_for
from wire.login_throttle import Failures
from wire.records import FileMeta

_TABLES = ("users", "sessions", "groups_", "members", "requests", "files", "shares", "login_failures", "log")


def _schema() -> str:
    return resources.files("tracker_server").joinpath("schema.sql").read_text(encoding="utf-8")


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


class StoreDamaged(Exception):
    """The database cannot be opened or read (damaged, or not a tracker's database): the tracker cannot start."""

    def __init__(self, path: Path, cause: BaseException) -> None:
        super().__init__(f"the database {path} cannot be read ({cause}). Keep a copy of it, then move the data "
                         f"directory aside and start this tracker again: it starts empty and, while another "
                         f"tracker of the list is primary, takes the cluster's state from it")


class Store:
    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._db = conn
        self._tx = asyncio.Lock()  # one connection: transactions must not interleave

    @classmethod
    async def open(cls, path: Path) -> Store:
        # Session tokens and password hashes live here: private to the tracker's user (SQLite gives its -wal and
        # -shm files the database file's mode).
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
        conn = await aiosqlite.connect(str(path), isolation_level=None)
        try:
            await conn.execute("PRAGMA journal_mode=WAL")
            await conn.execute("PRAGMA synchronous=FULL")  # an acknowledged entry survives a power cut too
            await conn.execute("PRAGMA foreign_keys=OFF")
            await conn.executescript(_schema())
        except sqlite3.DatabaseError as exc:
            await conn.close()  # its thread would keep the process alive, listening on nothing
            raise StoreDamaged(path, exc) from None
        return cls(conn)

    async def close(self) -> None:
        await self._db.close()

    # ------------------------------------------------------------------------------------------ meta values

    async def get_meta(self, key: str, default: str | None = None) -> str | None:
        async with self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)) as cur:
            row = await cur.fetchone()
        return default if row is None else str(row[0])

    async def set_meta(self, key: str, value: str) -> None:
        async with self._tx:
            await self._set_meta(key, value)

    async def _set_meta(self, key: str, value: str) -> None:
        await self._db.execute("INSERT INTO meta(key, value) VALUES (?, ?) "
                               "ON CONFLICT(key) DO UPDATE SET value = excluded.value", (key, value))

    # ------------------------------------------------------------------------------------------ the log

    async def append(self, entries: Iterable[Entry]) -> None:
        """Record and apply the entries in one transaction (all or nothing)."""
        async with self._tx:
            await self._append(entries)

    async def _append(self, entries: Iterable[Entry]) -> None:
        await self._db.execute("BEGIN IMMEDIATE")
        try:
            for entry in entries:
                await self._db.execute(
                    "INSERT INTO log(idx, epoch, op_id, op, result) VALUES (?, ?, ?, ?, ?)",
                    (entry.index, entry.epoch, entry.op_id, _dumps(entry.op), _dumps(entry.result)))
                await apply_sql(self._db, entry.op, entry.index)
        except BaseException:
            await self._db.execute("ROLLBACK")
            raise
        await self._db.execute("COMMIT")

    async def entries_after(self, index: int, limit: int = 1000) -> list[Entry]:
        async with self._tx, self._db.execute(
                "SELECT epoch, idx, op_id, op, result FROM log WHERE idx > ? ORDER BY idx LIMIT ?",
                (index, limit)) as cur:
            rows = await cur.fetchall()
        return [Entry(int(r[0]), int(r[1]), str(r[2]), json.loads(r[3]), json.loads(r[4])) for r in rows]

    async def entry_at(self, index: int) -> Entry | None:
        rows = await self.entries_after(index - 1, 1)
        return rows[0] if rows and rows[0].index == index else None

    # ------------------------------------------------------------------------------------------ loading

    async def load_state(self) -> State:
        async with self._tx:
            return await self._load_state()

    async def _load_state(self) -> State:
        state = State()
        for user_id, pw_hash in await self._rows("SELECT user_id, pw_hash FROM users"):
            state.users[user_id] = pw_hash
        for token, user_id, peer, fp in await self._rows(
                "SELECT token, user_id, peer_addr, fingerprint FROM sessions"):
            state.add_session(Session(token, user_id, peer, fp))
        for group_id, owner in await self._rows("SELECT group_id, owner FROM groups_"):
            state.groups[group_id] = Group(group_id, owner)
        for group_id, user_id, seq in await self._rows("SELECT group_id, user_id, joined_seq FROM members"):
            state.groups[group_id].members[user_id] = int(seq)
        for group_id, user_id, seq in await self._rows("SELECT group_id, user_id, seq FROM requests"):
            state.groups[group_id].requests[user_id] = int(seq)
        for group_id, name, size, piece_size, sha, blob in await self._rows(
                "SELECT group_id, file_name, size, piece_size, sha256, piece_hashes FROM files"):
            hashes = tuple(bytes(blob[i:i + 32]) for i in range(0, len(blob), 32))
            meta = FileMeta(name, int(size), int(piece_size), sha, hashes)
            state.groups[group_id].files[name] = SharedFile(meta)
        for group_id, name, user_id in await self._rows("SELECT group_id, file_name, user_id FROM shares"):
            state.groups[group_id].files[name].sharers.add(user_id)
        for key, count, last_at, locked_until in await self._rows(
                "SELECT key, count, last_at, locked_until FROM login_failures ORDER BY rowid"):  # oldest first
            state.login_failures[key] = Failures(int(count), float(last_at), float(locked_until))
        for epoch, idx, op_id, op, result in await self._rows("SELECT epoch, idx, op_id, op, result FROM log"):
            state.results[op_id] = (asked_for(json.loads(op)), json.loads(result))
            if int(idx) > state.index:
                state.index, state.last_epoch = int(idx), int(epoch)
            state.epoch = max(state.epoch, int(epoch))
        state.epoch = max(state.epoch, int(await self.get_meta("epoch", "0") or 0))
        return state

    async def _rows(self, sql: str, args: tuple[Any, ...] = ()) -> list[Any]:
        async with self._db.execute(sql, args) as cur:
            return list(await cur.fetchall())

    # ------------------------------------------------------------------------------------------ snapshots

    async def dump(self) -> dict[str, list[list[Any]]]:
        """Every row of every state table and of the log (blobs as hex), in key order: a consistent snapshot."""
        async with self._tx:
            return await self._dump()

    async def _dump(self) -> dict[str, list[list[Any]]]:
        await self._db.execute("BEGIN")
        try:
            out: dict[str, list[list[Any]]] = {}
            for table in _TABLES:
                rows = await self._rows(f"SELECT * FROM {table} ORDER BY 1, 2")
                out[table] = [[v.hex() if isinstance(v, bytes) else v for v in row] for row in rows]
        finally:
            await self._db.execute("COMMIT")
        return out

    async def install(self, snapshot: dict[str, list[list[Any]]], epoch: int) -> None:
        """Replace every table with ``snapshot`` (from ``dump`` of another tracker) in one transaction."""
        async with self._tx:
            await self._install(snapshot, epoch)

    async def _install(self, snapshot: dict[str, list[list[Any]]], epoch: int) -> None:
        await self._db.execute("BEGIN IMMEDIATE")
        try:
            for table in _TABLES:
                await self._db.execute(f"DELETE FROM {table}")
                for row in snapshot.get(table, []):
                    if table == "files":
                        row = [*row[:5], bytes.fromhex(row[5])]
                    marks = ", ".join("?" * len(row))
                    await self._db.execute(f"INSERT INTO {table} VALUES ({marks})", row)
            await self._set_meta("epoch", str(epoch))
        except BaseException:
            await self._db.execute("ROLLBACK")
            raise
        await self._db.execute("COMMIT")

    async def digest(self) -> str:
        """SHA-256 of the state tables (not the log): equal on trackers holding the same state."""
        snap = await self.dump()
        snap.pop("log")
        return hashlib.sha256(_dumps(snap).encode("utf-8")).hexdigest()
