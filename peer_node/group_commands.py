"""The group commands of a peer node: create, join, leave, list, the owner's answers, and a group's files.

A mixin of ``NodeService`` (it is the service's public face for groups, split out to keep each module about one
thing). The tracker holds the group rules and is the authority on membership; these methods check their input,
ask it through ``authed``, and keep the node's own side in step: the join requests it waits on (``JoinWatch``)
and, on leaving, the downloads and shares of that group. A leave made from another node of the user's (this one
logged out or stopped meanwhile) ends this node's shares in that group too, once a listing shows it
(``check_memberships`` at each login and start, and every listing after). Every answer about the user's groups,
a group's files or its requests to join is kept for Tab at the console too (``completion_cache``), and what Tab
finds missing is listed here in the background (``refresh_known``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from types import MappingProxyType

from peer_node.completion_cache import Ask, CompletionCache, Want
from peer_node.downloads import DownloadManager
from peer_node.groups_poll import GroupsPoll
from peer_node.heartbeat import Heartbeat
from peer_node.join_answers import JoinAnswer, JoinWatch, Seen
from peer_node.shares import ShareKeeper
from peer_node.state import NodeState, SessionRecord
from peer_node.tracker_client import path_of
from peer_node.tracker_docs import created_of, files_of, groups_of, members_of, offline_files_of, role_of
from peer_node.views import FileListing, GroupDetail, GroupRole, GroupSummary, LeaveOutcome
from wire.errors import Forbidden, GroupShareError, NotFound
from wire.names import check_id

log = logging.getLogger(__name__)
Authed = Callable[..., Awaitable[dict[str, object]]]


class GroupCommands:
    # Provided by NodeService.
    state: NodeState
    join_watch: JoinWatch
    downloads_mgr: DownloadManager
    shares_keeper: ShareKeeper
    heartbeat: Heartbeat
    login_generation: int
    authed: Authed
    _user: Callable[[], SessionRecord]
    _groups_poll: asyncio.Task[None] | None = None  # the background listing of poll_groups
    _groups_poll_clock: GroupsPoll
    _owned_pending: dict[str, int] | None = None  # group id -> requests to join, for the groups the user owns
    completion: CompletionCache
    _refreshing: dict[Want, asyncio.Task[object]]  # refresh_known's listings in flight
    _owned_requesters: Mapping[str, tuple[str, ...]] = MappingProxyType({})  # group id -> who asks, where named

    async def create_group(self, group_id: str) -> None:
        check_id(group_id, "group id")
        user, generation = self._user().user_id, self.login_generation
        await self.authed("POST", "/groups", {"group_id": group_id}, write=True)
        self._note_role(user, generation, group_id, GroupRole.OWNER)
        if self._owned_pending is not None:  # an owner now: open pages hear of its requests from the next poll on
            self._owned_pending = {**self._owned_pending, group_id: 0}
            self._owned_requesters = {**self._owned_requesters, group_id: ()}

    async def join_group(self, group_id: str) -> None:
        check_id(group_id, "group id")
        user, generation = self._user().user_id, self.login_generation
        answer = await self.authed("POST", path_of("groups", group_id, "join"), {}, write=True)
        self._note_role(user, generation, group_id, role_of(answer.get("status")))
        if answer.get("status") == "pending":
            # Timed at the answer: a listing asked for before the tracker recorded the request cannot know of it.
            await self.join_watch.asked(self._user().user_id, group_id, created_of(answer), time.monotonic())

    def awaiting_answers(self) -> bool:
        """Whether the logged-in user waits for an owner's answer to a request to join."""
        session = self.state.session
        return session is not None and self.join_watch.waiting(session.user_id)

    def pending_requests(self) -> dict[str, int] | None:
        """Requests to join each group the user owns, as the groups were last listed (None: not yet)."""
        return None if self._owned_pending is None else dict(self._owned_pending)

    def requesters(self) -> dict[str, tuple[str, ...]]:
        """Who asks to join each group the user owns, as last listed: only the groups whose requesters the tracker
        named. Beside the counts, so that an open page hears of a request withdrawn and another made meanwhile."""
        return dict(self._owned_requesters)

    def poll_groups(self) -> None:
        """List the groups again in the background for an open page's news (``groups_poll`` says when; one call
        at a time): it settles join requests (``join_answers``) and refreshes ``pending_requests``."""
        if self.state.session is None or (self._groups_poll is not None and not self._groups_poll.done()):
            return
        if self._groups_poll_clock.due(time.monotonic(), waiting=self.awaiting_answers(),
                                       owned=self._owned_pending):
            self._groups_poll = asyncio.create_task(self._poll_groups())

    def check_memberships(self) -> None:
        """At login and start: list the groups at once, which ends the shares of groups the user left from another
        node meanwhile (``list_groups``; best effort: with no tracker answering, the next listing does it)."""
        if self._groups_poll is not None and not self._groups_poll.done():
            self._groups_poll.cancel()  # asked for an earlier login: its answer would be set aside unread
        self._groups_poll = asyncio.create_task(self._poll_groups())

    async def _poll_groups(self) -> None:
        try:
            await self.list_groups()
        except GroupShareError as exc:  # no tracker now, logged out meanwhile: the next poll asks again
            log.debug("asking about join requests failed: %s", exc)

    def join_answers(self) -> list[JoinAnswer]:
        """How owners answered this user's requests, each answer once (for a page load's notice)."""
        session = self.state.session
        return self.join_watch.take(session.user_id) if session is not None else []

    def join_answers_since(self, seq: int | None) -> tuple[list[JoinAnswer], int]:
        """For an open page: the answers settled after ``seq`` (None: from now on), and the next ``seq``."""
        session = self.state.session
        if seq is None or session is None:
            return [], self.join_watch.last_seq
        return self.join_watch.since(session.user_id, seq)

    def join_answers_shown(self, upto: int) -> None:
        """An open page was sent the answers up to ``upto`` (``join_answers_since``): no page load repeats them."""
        session = self.state.session
        if session is not None:
            self.join_watch.shown(session.user_id, upto)

    async def leave_group(self, group_id: str) -> LeaveOutcome:
        check_id(group_id, "group id")
        user, generation = self._user().user_id, self.login_generation
        answer = await self.authed("POST", path_of("groups", group_id, "leave"), {}, write=True)
        self._note_role(user, generation, group_id, None if answer.get("deleted") is True else GroupRole.NONE)
        # Downloads first: one finishing meanwhile becomes a share, which forget_group then ends with the rest.
        await self.downloads_mgr.fail_group(user, group_id, "left the group")
        await self.shares_keeper.forget_group(user, group_id)
        self.heartbeat.wake()
        new_owner = answer.get("new_owner")
        withdrawn = answer.get("withdrawn") is True
        if withdrawn:  # no answer will come: not to be told later as "declined"
            await self.join_watch.withdrawn(user, group_id)
        return LeaveOutcome(new_owner if isinstance(new_owner, str) and new_owner else None,
                            answer.get("deleted") is True, withdrawn)

    async def list_groups(self) -> list[GroupSummary]:
        asked_at = time.monotonic()
        user, generation = self._user().user_id, self.login_generation
        out = groups_of(await self.authed("GET", "/groups"))
        if self.login_generation != generation:  # logged out (maybe in as another user) while asking
            return out
        self._owned_pending = {g.group_id: g.pending_requests for g in out if g.my_role is GroupRole.OWNER}
        self.completion.groups_listed(user, {g.group_id: g.my_role for g in out}, asked_at)
        self._owned_requesters = {g.group_id: g.requesters for g in out
                                  if g.my_role is GroupRole.OWNER and g.requesters is not None}
        await self.join_watch.seen(user, {g.group_id: Seen(g.my_role, g.created) for g in out}, complete=True,
                                   listed_at=asked_at)
        member_of = {g.group_id for g in out if g.my_role in (GroupRole.OWNER, GroupRole.MEMBER)}
        shared_in = {s.group_id for s in self.state.shares.values() if s.user_id == user}
        await self._end_shares_outside(user, shared_in - member_of, asked_at)
        return out

    async def _end_shares_outside(self, user: str, groups: set[str], asked_at: float) -> None:
        if groups and await self.shares_keeper.end_outside(user, groups, asked_at):
            self.heartbeat.wake()

    async def group_detail(self, group_id: str) -> GroupDetail:
        check_id(group_id, "group id")
        user = self._user().user_id
        asked_at = time.monotonic()
        try:
            doc = await self.authed("GET", path_of("groups", group_id))
        except NotFound:
            await self.join_watch.gone(user, group_id, listed_at=asked_at)
            self._note_requests(group_id, None)
            await self._end_shares_outside(user, {group_id}, asked_at)
            raise
        owner = str(doc.get("owner", ""))
        role = role_of(doc.get("my_status"))
        await self.join_watch.seen(user, {group_id: Seen(role, created_of(doc))}, complete=False, listed_at=asked_at)
        if role not in (GroupRole.OWNER, GroupRole.MEMBER):
            await self._end_shares_outside(user, {group_id}, asked_at)
        members = members_of(doc, owner)
        files: list[FileListing] = []
        requests: list[str] = []
        if role in (GroupRole.OWNER, GroupRole.MEMBER):  # the browser shows offline files too, greyed
            answer = await self._files_answer(group_id)
            files = files_of(answer) + offline_files_of(answer)
        if role is GroupRole.OWNER:
            requests = await self.list_requests(group_id)
        else:
            self._note_requests(group_id, None)
        return GroupDetail(group_id, owner, role, tuple(members), tuple(files), tuple(requests))

    async def list_requests(self, group_id: str) -> list[str]:
        check_id(group_id, "group id")
        user, generation, asked_at = self._user().user_id, self.login_generation, time.monotonic()
        doc = await self.authed("GET", path_of("groups", group_id, "requests"))
        raw = doc.get("requests", [])
        requests = [str(u) for u in raw] if isinstance(raw, list) else []
        if self.login_generation == generation:  # not logged out (maybe in as another user) while asking
            self._note_requests(group_id, tuple(requests))
            self.completion.requests_listed(user, group_id, requests, asked_at)
        return requests

    def _note_requests(self, group_id: str, requests: tuple[str, ...] | None) -> None:
        """Fresher requests to join one group (None: the user no longer owns it), so that a page showing that
        group's requests and the count beside "Groups" agree (``pending_requests``, ``requesters``)."""
        if self._owned_pending is None:
            return  # not listed yet: the first listing counts them all
        pending = {g: n for g, n in self._owned_pending.items() if g != group_id}
        requesters = {g: r for g, r in self._owned_requesters.items() if g != group_id}
        if requests is not None:
            pending[group_id], requesters[group_id] = len(requests), requests
        self._owned_pending, self._owned_requesters = pending, requesters

    async def accept_request(self, group_id: str, user_id: str) -> None:
        check_id(group_id, "group id")
        check_id(user_id, "user id")
        user, generation = self._user().user_id, self.login_generation
        await self.authed("POST", path_of("groups", group_id, "requests", user_id, "accept"), {}, write=True)
        if self.login_generation == generation:
            self.completion.request_answered(user, group_id, user_id)

    async def reject_request(self, group_id: str, user_id: str) -> None:
        check_id(group_id, "group id")
        check_id(user_id, "user id")
        user, generation = self._user().user_id, self.login_generation
        await self.authed("POST", path_of("groups", group_id, "requests", user_id, "reject"), {}, write=True)
        if self.login_generation == generation:
            self.completion.request_answered(user, group_id, user_id)

    async def list_files(self, group_id: str) -> list[FileListing]:
        check_id(group_id, "group id")
        return files_of(await self._files_answer(group_id))

    async def _files_answer(self, group_id: str) -> dict[str, object]:
        """The tracker's file list of a group: ``files`` (live) and ``offline`` (tracker_docs reads both). Both
        kinds are kept for Tab: a file offline now may be downloaded, to wait for its holders."""
        user, generation, asked_at = self._user().user_id, self.login_generation, time.monotonic()
        answer = await self.authed("GET", path_of("groups", group_id, "files"))
        if self.login_generation == generation:
            names = [f.file_name for f in files_of(answer) + offline_files_of(answer)]
            self.completion.files_listed(user, group_id, names, asked_at)
        return answer

    def _note_role(self, user: str, generation: int, group_id: str, role: GroupRole | None) -> None:
        """The user's new role in a group, done from this node: for Tab at once (None: the group is gone)."""
        if self.login_generation == generation:
            self.completion.role_changed(user, group_id, role)

    def refresh_known(self, want: Want) -> None:
        """On the event loop: list what Tab at the console found missing or stale (``completion_cache.wanted``),
        in the background, one listing per want at a time; the listing itself fills the cache. Best effort."""
        if self.state.session is None or want in self._refreshing:
            return
        ask, group_id = want
        if ask is Ask.GROUPS:
            if self._groups_poll is None or self._groups_poll.done():  # the groups poll's listing does it
                self._groups_poll = asyncio.create_task(self._poll_groups())
            return
        assert group_id is not None
        user, generation, asked_at = self._user().user_id, self.login_generation, time.monotonic()

        def refused() -> None:
            # Not the user's to list (not a member, not the owner, no such group): kept as an empty listing, so Tab
            # neither asks again at every press nor waits for it (``completion_cache.KnownValues``) until it is stale.
            if self.login_generation == generation:
                keep = self.completion.files_listed if ask is Ask.FILES else self.completion.requests_listed
                keep(user, group_id, (), asked_at)

        listing = self.list_files(group_id) if ask is Ask.FILES else self.list_requests(group_id)
        task: asyncio.Task[object] = asyncio.create_task(self._quietly(listing, refused))
        self._refreshing[want] = task
        task.add_done_callback(lambda _: self._refreshing.pop(want, None))

    @staticmethod
    async def _quietly(listing: Awaitable[object], refused: Callable[[], None]) -> object:
        try:
            return await listing
        except (Forbidden, NotFound) as exc:
            log.debug("listing for Tab refused: %s", exc)
            refused()
        except GroupShareError as exc:  # no tracker now, logged out: the next Tab asks again
            log.debug("listing for Tab failed: %s", exc)
        return None

