"""The node's own persisted state under ``--data-dir``: login session, shares, downloads, settings, join requests.

Theory of operation: five small JSON documents (``session.json``, ``shares.json``, ``downloads.json``,
``settings.json``, ``requests.json``), each
rewritten whole and atomically (temp file, fsync, rename) whenever it changes, so a node killed at any moment
restarts on the last complete version. They are tiny (a share's piece hashes are the biggest part: at most
~2,000 x 64 hex characters), and the node changes them on user actions, not on the hot path: a database would
buy nothing. Piece-level download progress is not here: the swarm's PieceStore keeps it beside the partial file.
Writes run in a thread so the event loop never waits on fsync.

A document that cannot be read, or holds records that cannot (hand-edited, truncated by a full disk, or written
by a version with looser name rules), is copied aside as ``<name>.damaged-<time>`` before the node goes on
without what it could not read: the next save rewrites the document from memory, and nothing must be lost
without a copy a person can look at. The log says so at ERROR.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import shutil
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Protocol, TypeVar

from peer_node.data_files import aside_path, sweep_unfinished_writes, write_atomic
from peer_node.save_undo import SaveUndo
from peer_node.state_writes import DocumentWrites, Encode
from peer_node.state_writes import StateNotSaved as StateNotSaved
from wire.errors import GroupShareError
from wire.records import FileMeta

log = logging.getLogger(__name__)
Key = tuple[str, str, str]
Record = TypeVar("Record")

API_KEY_FILE = "api-key"


@dataclass(frozen=True, slots=True)
class SessionRecord:
    user_id: str
    session: str  # the tracker's session token
    token_public_key: str  # hex Ed25519 key that signs access tokens
    heartbeat_interval: float


@dataclass(frozen=True, slots=True)
class ShareRecord:
    user_id: str
    group_id: str
    path: str  # absolute
    size: int
    mtime_ns: int
    meta: FileMeta
    # The file's ctime when hashed: a rewrite that puts size and mtime back (``touch -d``, ``cp -p`` over it)
    # still moves it, and no call sets it back (git's index keeps it for the same reason). None on a record
    # from before it was kept: size and mtime alone, until the share is next hashed.
    ctime_ns: int | None = None

    @property
    def file_name(self) -> str:
        return self.meta.file_name

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.user_id, self.group_id, self.meta.file_name)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"user_id": self.user_id, "group_id": self.group_id, "path": self.path, "size": self.size,
                               "mtime_ns": self.mtime_ns, "meta": self.meta.to_json()}
        if self.ctime_ns is not None:
            out["ctime_ns"] = self.ctime_ns
        return out

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> ShareRecord:
        ctime = d.get("ctime_ns")
        return cls(str(d["user_id"]), str(d["group_id"]), str(d["path"]), int(d["size"]), int(d["mtime_ns"]),
                   FileMeta.from_json(d["meta"]), None if ctime is None else int(ctime))


@dataclass(frozen=True, slots=True)
class DownloadRecord:
    user_id: str
    group_id: str
    file_name: str
    destination: str  # absolute path of the final file
    state: str  # "D", "C", "F" or "P" (views.DownloadState values)
    meta: FileMeta | None = None  # known once the tracker answered
    reason: str = ""
    started_at: float = 0.0
    finished_at: float | None = None
    bytes_by_peer: dict[str, int] = field(default_factory=dict)
    bytes_kept: int = 0  # a failed or paused download's verified bytes, kept on disk for it to resume from
    resume_when_seeded: bool = False  # failed for want of a seeder: auto_resume starts it again when one is back
    map_sources: list[str] = field(default_factory=list)  # who gave each piece-map cell ("": several; piece_sources)
    kept_bits: str = ""  # a failed or paused download's verified pieces (hex of the wire bitfield), for its map

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.user_id, self.group_id, self.file_name)

    def to_json(self) -> dict[str, Any]:
        # not ``asdict``: it deep-copies the meta's piece hashes only for them to be replaced
        d = {f.name: getattr(self, f.name) for f in fields(self)}
        d["meta"] = self.meta.to_json() if self.meta is not None else None
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> DownloadRecord:
        meta = FileMeta.from_json(d["meta"]) if d.get("meta") else None
        return cls(str(d["user_id"]), str(d["group_id"]), str(d["file_name"]), str(d["destination"]),
                   str(d["state"]), meta, str(d.get("reason", "")), float(d.get("started_at", 0.0)),
                   d.get("finished_at"), {str(k): int(v) for k, v in dict(d.get("bytes_by_peer", {})).items()},
                   int(d.get("bytes_kept", 0)), d.get("resume_when_seeded") is True,
                   [str(w) for w in d.get("map_sources", [])] if isinstance(d.get("map_sources"), list) else [],
                   _hex_or_empty(d.get("kept_bits")))

    def with_(self, **changes: Any) -> DownloadRecord:
        return replace(self, **changes)


def _hex_or_empty(value: object) -> str:
    """A record's hex field as saved, or "" for anything else (a hand edit, an older node): only a map is lost."""
    if not isinstance(value, str):
        return ""
    try:
        bytes.fromhex(value)
    except ValueError:
        return ""
    return value


# The groups a user asked to join -> the creation number of the group asked (None: unknown). A name deleted and made
# again is another group, and a request to the first is not answered by the second (``join_answers``).
Asked = dict[str, int | None]


def asked_from_json(raw: object) -> Asked:
    """One user's entry of requests.json: ``{group: number or null}``, or a list of groups (written before creation
    numbers were kept: all unknown). Whatever else is dropped."""
    if isinstance(raw, list):
        return {g: None for g in raw if isinstance(g, str)}
    if isinstance(raw, dict):
        return {str(g): n if isinstance(n, int) and not isinstance(n, bool) else None for g, n in raw.items()}
    return {}


def load_or_create_api_key(data_dir: Path) -> str:
    """The key scripts present to ``/cmd``: created at first start, mode 0600, never rewritten."""
    path = data_dir / API_KEY_FILE
    try:
        key = path.read_text(encoding="ascii").strip()
        if key:
            os.chmod(path, 0o600)
            return key
    except FileNotFoundError:
        pass
    key = secrets.token_urlsafe(32)
    write_atomic(path, (key + "\n").encode("ascii"), 0o600)
    return key


@dataclass(frozen=True, slots=True)
class NodeSettings:
    """What the user set for the node as a whole (not per login): kept across restarts."""
    upload_limit: int | None = None  # bytes a second the piece server may send in all; None: no limit
    download_limit: int | None = None  # bytes a second all downloads together may request; None: no limit

    def to_json(self) -> dict[str, Any]:
        return {"upload_limit": self.upload_limit or 0, "download_limit": self.download_limit or 0}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> NodeSettings:
        limits = {name: d.get(name, 0) for name in ("upload_limit", "download_limit")}  # absent: none (older files)
        for name, limit in limits.items():
            if not isinstance(limit, int) or isinstance(limit, bool) or limit < 0:
                raise ValueError(f"{name} {limit!r} is not a number of bytes a second")
        return cls(upload_limit=limits["upload_limit"] or None, download_limit=limits["download_limit"] or None)


class NodeState:
    """In-memory copy of the five documents plus their atomic persistence."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.session: SessionRecord | None = None
        self.shares: dict[tuple[str, str, str], ShareRecord] = {}
        self.downloads: dict[tuple[str, str, str], DownloadRecord] = {}
        self.settings = NodeSettings()
        # user id -> groups asked to join, answer not yet seen -> which group of that name (its creation number,
        # ``Asked``; None: unknown, from a tracker or a requests.json of before creation numbers)
        self.asked: dict[str, Asked] = {}
        self._writes = DocumentWrites(data_dir, lambda path, data: write_atomic(path, data))
        self._undo = SaveUndo()

    def load(self) -> None:
        """Read what a previous run left (synchronous: called once at start-up)."""
        self.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        swept = sweep_unfinished_writes(self.data_dir)
        if swept:
            log.info("deleted %d unfinished state write(s) a stop had cut off", swept)
        raw = self._read("session.json")
        if isinstance(raw, dict) and raw.get("user_id"):
            try:
                self.session = SessionRecord(str(raw["user_id"]), str(raw["session"]),
                                             str(raw["token_public_key"]), float(raw["heartbeat_interval"]))
            except (KeyError, TypeError, ValueError):
                log.warning("ignoring a malformed session.json")
        for share in self._read_records("shares.json", ShareRecord.from_json):
            self.shares[share.key] = share
        for dl in self._read_records("downloads.json", DownloadRecord.from_json):
            self.downloads[dl.key] = dl
        raw = self._read("requests.json")
        if isinstance(raw, dict):
            self.asked = {str(u): asked for u, groups in raw.items() if (asked := asked_from_json(groups))}
        raw = self._read("settings.json")
        if isinstance(raw, dict):
            try:
                self.settings = NodeSettings.from_json(raw)
            except ValueError as exc:
                log.warning("ignoring malformed settings.json: %s", exc)

    def _read(self, name: str) -> Any:
        try:
            return json.loads((self.data_dir / name).read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            self._set_aside(name, f"cannot read it ({exc})")
            return None

    def _read_records(self, name: str, parse: Callable[[dict[str, Any]], Record]) -> list[Record]:
        raw = self._read(name)
        if raw is None:
            return []
        items = raw if isinstance(raw, list) else [raw]
        records: list[Record] = []
        bad: list[str] = []
        for item in items:
            try:
                if not isinstance(item, dict):
                    raise TypeError(f"not a record: {str(item)[:40]}")
                records.append(parse(item))
            except (KeyError, TypeError, ValueError, AttributeError, GroupShareError) as exc:
                bad.append(str(exc))
        if bad:
            self._set_aside(name, f"{len(bad)} of its {len(items)} records cannot be read (first: {bad[0]})")
        return records

    def _set_aside(self, name: str, why: str) -> None:
        """Copy a damaged document aside (see the module docstring); the node goes on without what it lost."""
        source = self.data_dir / name
        aside = aside_path(source)
        try:
            shutil.copy2(source, aside)
        except OSError as exc:
            log.error("%s: %s; going on without it, and it could not be copied aside: %s", source, why, exc)
            return
        log.error("%s: %s; going on without it. The file as it was is kept at %s", source, why, aside)

    async def _write(self, name: str, snapshot: Callable[[], Encode]) -> None:
        """Save one state file with the change just made in memory (``state_writes``: changes made meanwhile go
        in one write); a full or failing disk is ``StateNotSaved`` (a clear 503, never a 500)."""
        await self._writes.save(name, snapshot)

    # What each small document holds as its save is asked for (``state_writes``: a snapshot per change)
    def _session_doc(self) -> Encode:
        return _as_is(asdict(self.session) if self.session is not None else {})

    def _asked_doc(self) -> Encode:
        return _as_is({u: dict(sorted(g.items())) for u, g in self.asked.items()})

    def _settings_doc(self) -> Encode:
        return _as_is(self.settings.to_json())

    # Each change below is undone in memory when it cannot be saved (``save_undo``: back to what the disk holds):
    # what the node acts on and what it would find after a restart must not part (a download recorded in memory
    # only would show [D] with no task).

    async def set_session(self, session: SessionRecord | None) -> None:
        before, self.session = self.session, session

        def put_back(value: SessionRecord | None) -> None:
            self.session = value

        await self._undo.save("session", before, session, lambda: self.session, put_back,
                              lambda: self._write("session.json", self._session_doc))

    async def clear_session(self) -> None:
        """Logged out, in memory whatever the disk says: a node that stopped serving must not act logged in. If the
        file cannot be written, the next start finds the old session and the tracker's 401 ends it then."""
        self.session = None
        try:
            await self._write("session.json", self._session_doc)
        except StateNotSaved:
            log.warning("logged out, but the node could not record it (the tracker's 401 will, at the next start)")

    async def put_share(self, share: ShareRecord, *, keep_unsaved: bool = False) -> None:
        """``keep_unsaved``: as for ``set_asked``, the change holds in memory though the disk refused it."""
        before = self.shares.get(share.key)
        self.shares[share.key] = share
        await self._save_or_restore(self.shares, share.key, before, share, self.save_shares, keep_unsaved)

    async def drop_share(self, key: tuple[str, str, str]) -> None:
        before = self.shares.pop(key, None)
        if before is not None:
            await self._save_or_restore(self.shares, key, before, None, self.save_shares)

    async def save_shares(self) -> None:
        await self._write("shares.json", lambda: _records(self.shares))

    async def put_download(self, dl: DownloadRecord, *, keep_unsaved: bool = False) -> None:
        """``keep_unsaved``: as for ``set_asked``, the change holds in memory though the disk refused it."""
        before = self.downloads.get(dl.key)
        self.downloads[dl.key] = dl
        await self._save_or_restore(self.downloads, dl.key, before, dl, self.save_downloads, keep_unsaved)

    async def drop_download(self, key: tuple[str, str, str]) -> None:
        before = self.downloads.pop(key, None)
        if before is not None:
            await self._save_or_restore(self.downloads, key, before, None, self.save_downloads)

    async def save_downloads(self) -> None:
        await self._write("downloads.json", lambda: _records(self.downloads))

    async def _save_or_restore(self, table: dict[Key, Record], key: Key, before: Record | None,
                               after: Record | None, save: Callable[[], Awaitable[None]],
                               keep_unsaved: bool = False) -> None:
        """Save the table with ``key`` changed from ``before`` to ``after`` (None: absent); if the save fails, put
        back what the disk holds for ``key`` (``save_undo``) and raise StateNotSaved."""

        def put_back(value: Record | None) -> None:
            if value is None:
                table.pop(key, None)
            else:
                table[key] = value

        await self._undo.save((id(table), key), before, after, lambda: table.get(key), put_back, save,
                              keep_unsaved=keep_unsaved)

    async def set_asked(self, user_id: str, asked: Asked, *, keep_unsaved: bool = False) -> None:
        """The groups ``user_id`` asked to join and has had no answer about yet (``join_answers``). With
        ``keep_unsaved``, a change the disk cannot take still holds in memory (StateNotSaved is raised all the
        same): for answers already told, which a restart may then tell once more."""
        before = self.asked.get(user_id)
        after = dict(asked) if asked else None
        if after is not None:
            self.asked[user_id] = after
        else:
            self.asked.pop(user_id, None)

        def put_back(value: Asked | None) -> None:
            if value is None:
                self.asked.pop(user_id, None)
            else:
                self.asked[user_id] = value

        await self._undo.save(("asked", user_id), before, after, lambda: self.asked.get(user_id), put_back,
                              lambda: self._write("requests.json", self._asked_doc), keep_unsaved=keep_unsaved)

    async def set_settings(self, settings: NodeSettings) -> None:
        before, self.settings = self.settings, settings

        def put_back(value: NodeSettings | None) -> None:
            assert value is not None  # settings are never absent
            self.settings = value

        await self._undo.save("settings", before, settings, lambda: self.settings, put_back,
                              lambda: self._write("settings.json", self._settings_doc))


class _ToJson(Protocol):
    def to_json(self) -> dict[str, Any]: ...


def _records(table: Mapping[Key, _ToJson]) -> Encode:
    """The records as they are now (frozen: only the references are copied), encoded later in the thread."""
    records = list(table.values())
    return lambda: [r.to_json() for r in records]


def _as_is(doc: Any) -> Encode:
    """A small document, built now: nothing left to encode in the thread but the JSON."""
    return lambda: doc
