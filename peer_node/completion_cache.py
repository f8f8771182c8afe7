"""What Tab at the console offers for a command's group id, file name or requester: the groups of the logged-in
user, the files listed in them, the requests to join the groups they own, and this node's shares and downloads.

Theory of operation: readline calls the completer on the console thread, between two keystrokes, and waits for
it; the tracker is a network round trip away, and the service's own dicts belong to the event loop. So the loop
keeps what it learns anyway here (every listing of the groups, the groups poll's included; every list of a group's
files, the browser's group page's too; every list of requests to join; once a second, this node's shares and
downloads), and the completer only reads. What it reads is ``Known``, a frozen snapshot that each change replaces
whole: one attribute assignment, so the console thread sees the old snapshot or the new one, never half of one,
with no lock. What Tab finds missing or older than ``STALE_S`` it asks for (``wanted``), in the background. A
Tab that has nothing to offer meanwhile waits a moment for that listing (``FIRST_TAB_WAIT_S``: a tracker on the
same network answers in milliseconds), so the first Tab at a group's file names offers them; a listing slower
than that is there at the next Tab, as with a shell's completion of remote names.

Only names the console could take back are kept: ids as ``check_id`` takes them, file names as
``is_valid_file_name`` does. Readline writes what it offers to the terminal as it is (its list of matches), so a
name with an escape sequence in it would command the terminal: the tracker refuses such names, but the node does not
rely on it, as news lines do not (``wire.safe_text``).

A snapshot is one user's. It is emptied at every logout (and session end), and a fill for another user than the
snapshot's starts from nothing: one user's groups and files never show in the completions of the next.

Pure: ``now`` (monotonic seconds) is passed in, and ``KnownValues`` (the completer's side) is given its clock.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from enum import Enum

from peer_node.commands import Command, Scope
from peer_node.views import GroupRole
from wire.names import ID_RE, is_valid_file_name

STALE_S = 30.0  # older than this, a listing is asked for again at the next Tab (and still offered meanwhile)
# How long a Tab with nothing to offer waits for the listing it asked for: long enough for a tracker to answer,
# short enough that a Tab while no tracker answers is a pause, not a hang. Looked at every WAIT_STEP_S.
FIRST_TAB_WAIT_S = 0.75
WAIT_STEP_S = 0.02
IN_GROUP = frozenset({GroupRole.OWNER, GroupRole.MEMBER})
TRACKER_SCOPES = frozenset({Scope.MEMBER, Scope.OWNER, Scope.OUTSIDE, Scope.JOINED})


class Ask(Enum):
    """What the tracker is asked for, in the background, so that the next Tab finds it."""

    GROUPS = "groups"
    FILES = "files"
    REQUESTS = "requests"


Want = tuple[Ask, str | None]  # what to ask, and of which group (None for the groups)


@dataclass(frozen=True, slots=True)
class Listing:
    names: tuple[str, ...]
    at: float  # when it was asked for (monotonic)


@dataclass(frozen=True, slots=True)
class Known:
    """One user's names, as last heard. Never changed: replaced whole (module doc)."""

    user: str | None = None
    groups: Mapping[str, GroupRole] = field(default_factory=dict)  # every group listed, with the user's role
    groups_at: float | None = None  # when the groups were last listed (None: not yet)
    files: Mapping[str, Listing] = field(default_factory=dict)  # group id -> its files, offline ones too
    requests: Mapping[str, Listing] = field(default_factory=dict)  # owned group id -> who asked to join
    shares: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # group id -> what this node shares there
    downloads: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # group id -> this node's downloads


class CompletionCache:
    """Filled on the event loop; ``known`` read from any thread."""

    def __init__(self) -> None:
        self.known = Known()

    def clear(self) -> None:
        """At a logout: nothing of this user's is left for the next."""
        self.known = Known()

    def _of(self, user: str) -> Known:
        return self.known if self.known.user == user else Known(user=user)

    def groups_listed(self, user: str, roles: Mapping[str, GroupRole], asked_at: float) -> None:
        """Every group with the user's role in it (``list_groups``). The files and requests of groups the user is
        no longer in (or no longer owns) go: they are not offered, and would be stale when the user is back. So do
        those of groups the user was not known to be in before (a listing the tracker refused then is kept empty,
        ``group_commands.refresh_known``, and would hide the files of a group just joined)."""
        k = self._of(user)
        roles = {g: role for g, role in roles.items() if _is_id(g)}
        was_in = {g for g, role in k.groups.items() if role in IN_GROUP}
        self.known = replace(k, groups=roles, groups_at=asked_at,
                             files={g: v for g, v in k.files.items() if roles.get(g) in IN_GROUP and g in was_in},
                             requests={g: v for g, v in k.requests.items()
                                       if roles.get(g) is GroupRole.OWNER and k.groups.get(g) is GroupRole.OWNER})

    def role_changed(self, user: str, group_id: str, role: GroupRole | None) -> None:
        """The user created, asked to join or left ``group_id`` from this node: known at once, before the next
        listing (None: the group is gone, its last member left)."""
        k = self._of(user)
        groups = {g: r for g, r in k.groups.items() if g != group_id}
        if role is not None:
            groups[group_id] = role
        files = dict(k.files) if role in IN_GROUP else {g: v for g, v in k.files.items() if g != group_id}
        requests = dict(k.requests) if role is GroupRole.OWNER else {
            g: v for g, v in k.requests.items() if g != group_id}
        self.known = replace(k, groups=groups, files=files, requests=requests)

    def files_listed(self, user: str, group_id: str, names: Iterable[str], asked_at: float) -> None:
        k = self._of(user)
        names = tuple(n for n in names if is_valid_file_name(n))
        self.known = replace(k, files={**k.files, group_id: Listing(names, asked_at)})

    def file_shared(self, user: str, group_id: str, name: str) -> None:
        """A file shared from this node is in its group's list at once (when that list is known at all)."""
        k = self._of(user)
        listing = k.files.get(group_id)
        if listing is not None and name not in listing.names:
            self.known = replace(k, files={**k.files, group_id: Listing((*listing.names, name), listing.at)})

    def requests_listed(self, user: str, group_id: str, users: Iterable[str], asked_at: float) -> None:
        k = self._of(user)
        self.known = replace(k, requests={**k.requests, group_id: Listing(tuple(u for u in users if _is_id(u)),
                                                                            asked_at)})

    def request_answered(self, user: str, group_id: str, requester: str) -> None:
        k = self._of(user)
        listing = k.requests.get(group_id)
        if listing is not None:
            rest = tuple(u for u in listing.names if u != requester)
            self.known = replace(k, requests={**k.requests, group_id: Listing(rest, listing.at)})

    def local(self, user: str, shares: Iterable[tuple[str, str]], downloads: Iterable[tuple[str, str]]) -> None:
        """This node's shares and downloads of ``user``, as (group id, file name)."""
        k = self._of(user)
        mine, got = _by_group(shares), _by_group(downloads)
        if k is not self.known or mine != k.shares or got != k.downloads:  # once a second: new only for a change
            self.known = replace(k, shares=mine, downloads=got)


def _is_id(value: str) -> bool:
    return ID_RE.fullmatch(value) is not None and value not in (".", "..")


def _by_group(pairs: Iterable[tuple[str, str]]) -> dict[str, tuple[str, ...]]:
    out: dict[str, list[str]] = {}
    for group_id, name in pairs:
        out.setdefault(group_id, []).append(name)
    return {g: tuple(sorted(set(names))) for g, names in out.items()}


_ROLES: Mapping[Scope, frozenset[GroupRole]] = {
    Scope.MEMBER: IN_GROUP,
    Scope.OWNER: frozenset({GroupRole.OWNER}),
    Scope.OUTSIDE: frozenset({GroupRole.NONE}),
    Scope.JOINED: IN_GROUP | {GroupRole.PENDING},
}


def values(known: Known, scope: Scope, arg: str, group_id: str | None) -> list[str]:
    """What argument ``arg`` of a command of ``scope`` may be, sorted; ``group_id``: the command's group, when
    it comes before ``arg`` on the line."""
    if arg == "group_id":
        if scope is Scope.SHARES:
            return sorted(known.shares)
        if scope is Scope.DOWNLOADS:
            return sorted(known.downloads)
        roles = _ROLES.get(scope, frozenset())
        return sorted(g for g, role in known.groups.items() if role in roles)
    if group_id is None:
        return []
    if arg == "file_name":
        if scope is Scope.SHARES:
            return list(known.shares.get(group_id, ()))
        if scope is Scope.DOWNLOADS:
            return list(known.downloads.get(group_id, ()))
        listing = known.files.get(group_id) if scope in TRACKER_SCOPES else None
        return sorted(listing.names) if listing is not None else []
    if arg == "user_id" and scope is Scope.OWNER:  # only an owner's command names a requester
        listing = known.requests.get(group_id)
        return sorted(listing.names) if listing is not None else []
    return []


def wanted(known: Known, scope: Scope, arg: str, group_id: str | None, now: float) -> Want | None:
    """What to ask the tracker for, for Tab at ``arg``: missing, or older than STALE_S (None: nothing)."""
    if scope not in TRACKER_SCOPES:
        return None  # this node's own shares and downloads: kept fresh by the loop
    if arg == "group_id":
        fresh = known.groups_at is not None and now - known.groups_at < STALE_S
        return None if fresh else (Ask.GROUPS, None)
    if group_id is None or not _is_id(group_id):
        return None  # no group, or none there could be (the listing would be refused before it is asked)
    # A group the listing has with another role, or has not at all (a typo), is not asked about: the tracker would
    # refuse, at every Tab. Not listed yet, it may be the user's.
    role = known.groups.get(group_id) if known.groups_at is not None else GroupRole.OWNER
    if arg == "file_name" and role in IN_GROUP:
        listing = known.files.get(group_id)
        return None if listing is not None and now - listing.at < STALE_S else (Ask.FILES, group_id)
    if arg == "user_id" and scope is Scope.OWNER and role is GroupRole.OWNER:
        listing = known.requests.get(group_id)
        return None if listing is not None and now - listing.at < STALE_S else (Ask.REQUESTS, group_id)
    return None


class KnownValues:
    """The console completer's values (``console_completion.Values``), on the console thread: read from the
    cache's snapshot, and what is missing or stale handed to ``ask`` (which has the event loop fetch it). Waited
    for only when there is nothing to offer meanwhile and a listing is on its way (``logged_in``), and only
    ``first_wait`` seconds (the module doc). A group id Tab completes to one group has that group's files asked
    for at once too, when the command takes a file name next: they are there by the time the user presses Tab
    again."""

    def __init__(self, known: Callable[[], Known], ask: Callable[[Want], None],
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep,
                 first_wait: float = FIRST_TAB_WAIT_S, logged_in: Callable[[], bool] = lambda: True) -> None:
        self.known = known  # the snapshot now (``CompletionCache.known``)
        self.ask = ask
        self.clock = clock
        self.sleep = sleep
        self.first_wait = first_wait
        # Logged out, nothing is listed (``refresh_known`` asks nothing without a session): no listing to wait for,
        # and every Tab at a group id or file name would freeze the prompt for ``first_wait`` to no end.
        self.logged_in = logged_in

    def __call__(self, cmd: Command, at: int, group_id: str | None, partial: str) -> list[str]:
        known, arg = self.known(), cmd.args[at]
        found = [v for v in values(known, cmd.scope, arg, group_id) if v.startswith(partial)]
        want = wanted(known, cmd.scope, arg, group_id, self.clock())
        if want is not None:
            self.ask(want)
            if not found and self.logged_in():
                known, found = self._when_listed(cmd, arg, group_id, partial, known)
        if arg == "group_id" and len(found) == 1 and "file_name" in cmd.args[at + 1:]:
            files = wanted(known, cmd.scope, "file_name", found[0], self.clock())
            if files is not None:
                self.ask(files)
        return found

    def _when_listed(self, cmd: Command, arg: str, group_id: str | None, partial: str,
                     known: Known) -> tuple[Known, list[str]]:
        """The snapshot and the matches once the listing asked for is in, if it comes within ``first_wait``; else
        the snapshot as it was and none (for now). A bounded number of looks, not a deadline: the clock may be a
        test's, which does not move by itself."""
        for _ in range(math.ceil(self.first_wait / WAIT_STEP_S)):
            self.sleep(WAIT_STEP_S)
            latest = self.known()
            if wanted(latest, cmd.scope, arg, group_id, self.clock()) is None:
                return latest, [v for v in values(latest, cmd.scope, arg, group_id) if v.startswith(partial)]
        return known, []
