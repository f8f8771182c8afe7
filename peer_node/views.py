"""What the node's services return: plain frozen dataclasses that /cmd, the console and the browser UI render."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class GroupRole(StrEnum):
    OWNER = "owner"
    MEMBER = "member"
    PENDING = "pending"
    NONE = "none"


@dataclass(frozen=True, slots=True)
class LeaveOutcome:
    """What leaving did to the group: its new owner (when the owner left), or that it is gone (the last member),
    or that only a request to join was withdrawn."""
    new_owner: str | None
    deleted: bool
    withdrawn: bool = False


@dataclass(frozen=True, slots=True)
class GroupSummary:
    group_id: str
    owner: str
    member_count: int
    my_role: GroupRole
    pending_requests: int = 0  # requests to join waiting for us, the owner
    requesters: tuple[str, ...] | None = None  # who asks (the owner only), oldest first; None: the tracker did not say
    created: int | None = None  # the group's creation number (``join_answers``); None: the tracker did not say


@dataclass(frozen=True, slots=True)
class MemberView:
    user_id: str
    is_owner: bool
    online: bool
    last_seen: float | None  # unix seconds, None if never seen
    addr: str = ""  # its node's piece-server address, "" when unknown
    fingerprint: str = ""  # its node's certificate fingerprint, "" when unknown


@dataclass(frozen=True, slots=True)
class FileListing:
    file_name: str
    size: int
    sha256: str
    live_seeders: int


@dataclass(frozen=True, slots=True)
class GroupDetail:
    group_id: str
    owner: str
    my_role: GroupRole
    members: tuple[MemberView, ...]  # empty for non-members
    files: tuple[FileListing, ...]  # empty for non-members
    pending_requests: tuple[str, ...]  # only filled for the owner


class ShareEnd(StrEnum):
    """How ``stop_share`` ended a share on this node (it always does when the node holds one)."""

    TOLD = "told"  # the tracker no longer lists this user as its sharer
    NO_TRACKER = "no tracker"  # none answered: the group lists the file as offline
    UNKNOWN_THERE = "unknown there"  # the tracker had no such share of the user's: ended from another node
    NOT_MEMBER = "not a member"  # the user is no longer a member of the group (left from another node)


class DownloadState(StrEnum):
    RUNNING = "D"
    COMPLETE = "C"
    FAILED = "F"
    PAUSED = "P"  # stopped by the user, its verified pieces kept; ``show_downloads`` shows it as ``[D]``


@dataclass(frozen=True, slots=True)
class DownloadView:
    group_id: str
    file_name: str
    destination: str
    state: DownloadState
    size: int
    bytes_done: int
    percent: int  # 0-100, floor
    speed_bps: float  # recent bytes/s
    eta_s: float | None
    peers: tuple[str, ...]  # user ids we are fetching from now
    bytes_by_peer: dict[str, int] = field(default_factory=dict)  # user id -> bytes received
    reason: str = ""  # for FAILED
    piece_states: str = ""  # one char a piece: "d" done, "f" in flight, "." missing (for the piece map)
    started_at: float = 0.0
    finished_at: float | None = None
    piece_sources: dict[int, str] = field(default_factory=dict)  # piece -> member who gave it (this run)
    copying_from: str = ""  # while pieces are copied from a complete copy this node already has: its path
    will_resume: bool = False  # FAILED for want of a seeder: the node starts it again when one is back (auto_resume)
    checking: bool = False  # hashing the whole file found at its destination (``bytes_done``: how far)


@dataclass(frozen=True, slots=True)
class SharedFile:
    group_id: str
    file_name: str
    path: str
    size: int
    sha256: str
    # Why the file cannot be served now (``share_absence``: "is gone (moved or deleted)"), or None when it is.
    unavailable: str | None = None
    unavailable_since: float | None = None  # wall-clock seconds: when it was found so


@dataclass(frozen=True, slots=True)
class NodeStatus:
    user_id: str | None  # None when logged out
    piece_addr: str
    tracker: str | None  # "host:port" of the tracker serving us now
    tracker_rank: int | None
    failed_over: bool  # True when the serving tracker is not the list's first
    upload_limit: int | None = None  # bytes a second the node uploads in all; None: no limit
    paced_for: float | None = None  # seconds until a request the tracker asked to wait is sent again; None: none
    download_limit: int | None = None  # bytes a second the node downloads in all; None: no limit
