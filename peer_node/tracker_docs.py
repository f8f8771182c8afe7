"""The tracker's JSON answers about groups and files, read into the node's views.

Pure functions: a tracker is trusted to be honest but not to be well-formed (a broken or foreign one may send
anything), so every field is read defensively and a malformed entry is skipped, never raised on.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from peer_node.swarm.config import SwarmSnapshot
from peer_node.views import FileListing, GroupRole, GroupSummary, MemberView
from wire.errors import BadInput, Unavailable
from wire.records import FileMeta, SeederInfo

log = logging.getLogger(__name__)


def role_of(value: object) -> GroupRole:
    try:
        return GroupRole(str(value))
    except ValueError:
        return GroupRole.NONE


def _entries(doc: Mapping[str, object], key: str) -> list[dict[str, object]]:
    raw = doc.get(key, [])
    return [item for item in raw if isinstance(item, dict)] if isinstance(raw, list) else []


def _int(value: object) -> int:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0


def groups_of(doc: Mapping[str, object]) -> list[GroupSummary]:
    """``GET /groups``."""
    return [GroupSummary(str(g.get("group_id", "")), str(g.get("owner", "")), _int(g.get("member_count")),
                         role_of(g.get("my_status")), _int(g.get("pending_requests")), _names(g.get("requesters")),
                         created_of(g))
            for g in _entries(doc, "groups")]


def created_of(doc: Mapping[str, object]) -> int | None:
    """A group's creation number (``created``: in a group listing, a group's page, the answer to a request to join);
    None when absent (a tracker from before it, a group made before it) or not a number."""
    value = doc.get("created")
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _names(value: object) -> tuple[str, ...] | None:
    """A list of user ids; None when it is not one (a tracker from before ``requesters``, or a malformed one)."""
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        return None
    return tuple(value)


def members_of(doc: Mapping[str, object], owner: str) -> list[MemberView]:
    """The ``members`` of ``GET /groups/<id>``."""
    out = []
    for m in _entries(doc, "members"):
        seen = m.get("last_seen")
        out.append(MemberView(str(m.get("user_id", "")), m.get("user_id") == owner, bool(m.get("online")),
                              float(seen) if isinstance(seen, int | float) else None, str(m.get("addr", "")),
                              str(m.get("fingerprint", ""))))
    return out


def files_of(doc: Mapping[str, object]) -> list[FileListing]:
    """``GET /groups/<id>/files``: the files a live node holds."""
    return [FileListing(str(f.get("file_name", "")), _int(f.get("size")), str(f.get("sha256", "")),
                        _int(f.get("live_seeders"))) for f in _entries(doc, "files")]


def offline_files_of(doc: Mapping[str, object]) -> list[FileListing]:
    """The same answer's ``offline``: files shared in the group that no live node holds now (0 live seeders)."""
    return [FileListing(str(f.get("file_name", "")), _int(f.get("size")), str(f.get("sha256", "")), 0)
            for f in _entries(doc, "offline")]


def swarm_of(doc: dict[str, Any]) -> tuple[FileMeta, SwarmSnapshot]:
    """A file's details (``GET /groups/{g}/files/{name}``): its metadata (malformed: ``BadInput``, the download
    cannot start), the access token (missing: ``Unavailable``), and the live seeders (a malformed one is skipped)."""
    meta = FileMeta.from_json(doc)
    token = doc.get("token")
    if not isinstance(token, str) or not token:
        raise Unavailable("the tracker gave no access token")
    seeders: list[SeederInfo] = []
    for item in _entries(doc, "seeders"):
        try:
            seeders.append(SeederInfo.from_json(item, meta.piece_count))
        except BadInput as exc:
            log.warning("ignoring a seeder entry: %s", exc.message)
    return meta, SwarmSnapshot(token=token, seeders=seeders)
