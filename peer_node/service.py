"""NodeService: the rules of a peer node, shared by ``/cmd``, the console prompt and the browser UI.

Theory of operation: the service owns the node's state (``NodeState``), its tracker client, the swarm's catalog
of served files with the piece server, the download manager and the heartbeat. It never sees a web request: each
command is one async method that validates its input, asks the tracker (the tracker holds the group rules and is
the authority on membership) and returns a dataclass of ``peer_node.views`` or raises a ``wire.errors`` class.

Being logged in means holding a tracker session (persisted, so a restarted node is still logged in). While logged
in, the node serves the user's shares, heartbeats its holdings (complete shares ``"all"``, running downloads
their bitfield) and runs the user's downloads. Logging out, or the tracker answering 401 to our session, stops
all of it; logging in again re-checks every share against its file (size and mtime; a re-hash when they moved)
and serves those that still match.

Peer traffic is TLS by default: the node's identity (``peer_node.swarm.tls``, made at first start under the data
dir) is handed to the piece server and every download, and its certificate fingerprint goes to the tracker at
every login, which lists it to downloaders (they pin it) and binds our access tokens to it. ``--no-tls`` runs
plain TCP with an empty fingerprint; every node of a swarm must agree.

The group commands are ``group_commands.GroupCommands``'s, the login and logout ``session_commands``'s (mixins).
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path, PurePath

from peer_node import login_state
from peer_node.completion_cache import CompletionCache, Want
from peer_node.config import NodeConfig
from peer_node.downloads import DownloadManager
from peer_node.group_commands import GroupCommands
from peer_node.groups_poll import GroupsPoll
from peer_node.hashing import Progress
from peer_node.heartbeat import Heartbeat
from peer_node.join_answers import JoinWatch
from peer_node.sensitive import own_data_refusal
from peer_node.session_commands import SessionCommands, UnansweredLogin
from peer_node.shares import ShareKeeper
from peer_node.state import NodeState, SessionRecord, ShareRecord
from peer_node.swarm.catalog import ServedFiles
from peer_node.swarm.download_limit import DownloadLimit
from peer_node.swarm.server import PieceServer
from peer_node.swarm.tls import NodeIdentity, load_or_create_identity
from peer_node.tracker_client import TrackerClient, path_of
from peer_node.tracker_docs import role_of
from peer_node.upload_copies import is_upload_copy
from peer_node.views import (
    DownloadView,
    GroupRole,
    NodeStatus,
    SharedFile,
    ShareEnd,
)
from wire.errors import BadInput, Forbidden, GroupShareError, NotFound, NotLoggedIn, Unavailable
from wire.names import check_file_name, check_id, check_new_file_name
from wire.tokens import TokenVerifier

log = logging.getLogger(__name__)

OFFLINE_NOTICE_S = 2.0  # how long a stopping node waits to tell the tracker it goes offline


def _absolute(path: str) -> str:
    """A path as the user meant it: ``~`` expanded, relative to the node's working directory."""
    return os.path.abspath(os.path.expanduser(path))


class NodeService(GroupCommands, SessionCommands):
    def __init__(self, config: NodeConfig) -> None:
        self.config = config
        self.state = NodeState(config.data_dir)
        self.tracker = TrackerClient(config.trackers, config.tracker_timeout_s, config.tracker_retry_s)
        self.catalog = ServedFiles()
        # The node's TLS identity (key and self-signed certificate, made at first start): the piece server and
        # every download speak TLS with it, and the tracker learns its fingerprint at login.
        self.identity: NodeIdentity | None = load_or_create_identity(config.data_dir) if config.peer_tls else None
        self.server = PieceServer(config.piece_host, config.piece_port, self.catalog, self._token_verifier,
                                  config.peer_limits, holds=self._holds, tls=self.identity,
                                  clock=self.tracker.clock.now)
        self._verifier: TokenVerifier | None = None
        self.heartbeat = Heartbeat(self)
        self.shares_keeper = ShareKeeper(self)
        self.download_limit = DownloadLimit()  # what all downloads together may request (set at start)
        self.downloads_mgr = DownloadManager(self.state, self.tracker, self.catalog,
                                             no_peer_timeout=config.download_stall_s,
                                             on_complete=self.shares_keeper.adopt_download,
                                             register=self.shares_keeper.register,
                                             on_change=self.heartbeat.wake, tls=self.identity,
                                             resume_check_s=config.resume_check_s,
                                             download_limit=self.download_limit)
        self.join_watch = JoinWatch(self.state)
        self._groups_poll_clock = GroupsPoll(config.groups_poll_s)
        self.completion = CompletionCache()  # what Tab offers at the console: the user's groups, files, requests
        self._refreshing: dict[Want, asyncio.Task[object]] = {}
        self._login_lock = asyncio.Lock()
        self._unanswered_login: UnansweredLogin | None = None  # session_commands' module doc
        self.offline_check = login_state.OfflineCheck(config.data_dir)
        # Moves at every logout (and session end): a long command (hashing a file, starting a download) started
        # under one login checks it before it acts, so it never acts for whoever logs in next.
        self.login_generation = 0
        # Told the user id at every logout, whoever asked for it (/cmd, the console, the browser, the tracker
        # ending the session): the browser UI ends every copy of that user's session cookie there.
        self.on_logout: list[Callable[[str], object]] = []

    # --- lifecycle
    async def start(self) -> None:
        self.state.load()
        if self.config.upload_limit is not None:  # given at start: it is the node's setting from now on
            await self.state.set_settings(replace(self.state.settings, upload_limit=self.config.upload_limit or None))
        if self.config.download_limit is not None:
            await self.state.set_settings(replace(self.state.settings,
                                                  download_limit=self.config.download_limit or None))
        self.server.set_upload_limit(self.state.settings.upload_limit)
        self.download_limit.set_rate(self.state.settings.download_limit)
        await self.tracker.start()
        try:
            await self.server.start()
        except BaseException:
            await self.tracker.close()  # the port is taken: leave no client session open behind the error
            raise
        if self.state.session is not None and not login_state.fingerprint_matches(self.config.data_dir,
                                                                                   self.fingerprint):
            log.warning("the peer transport changed since this node logged in (TLS on/off): log in again")
            await self.state.set_session(None)
        if self.state.session is not None:
            self._activate(self.state.session)

    async def close(self) -> None:
        if self._groups_poll is not None:
            self._groups_poll.cancel()
        for task in list(self._refreshing.values()):
            task.cancel()
        await self._deactivate()
        await self._say_offline()
        await self.server.close()
        self.download_limit.close()
        await self.tracker.close()

    async def _say_offline(self) -> None:
        """Stopping while logged in: tell the tracker at once, so members stop seeing this node online and as a
        seeder (else they would for one peer timeout). Best effort, and brief: a stop must not wait on a tracker."""
        if self.state.session is None:
            return
        try:
            async with asyncio.timeout(OFFLINE_NOTICE_S):
                await self.tracker.call("DELETE", "/heartbeat")
        except TimeoutError:
            log.info("could not tell the tracker this node stops: no answer within %g s", OFFLINE_NOTICE_S)
        except GroupShareError as exc:
            log.info("could not tell the tracker this node stops: %s", exc.message)

    @property
    def fingerprint(self) -> str:
        """SHA-256 (hex) of this node's certificate; "" when peer TLS is off."""
        return self.identity.fingerprint if self.identity is not None else ""

    @property
    def piece_port(self) -> int:
        return int(self.server.port)

    def _token_verifier(self) -> TokenVerifier | None:
        return self._verifier

    def _holds(self, group_id: str, sha256: str) -> bool:
        """Whether the logged-in user's node serves that file in that group: a share, or a running download."""
        session = self.state.session
        if session is None:
            return False
        user = session.user_id
        return (self.shares_keeper.serves(user, group_id, sha256)
                or self.downloads_mgr.downloading(user, group_id, sha256))

    def _activate(self, session: SessionRecord) -> None:
        self.tracker.session_token = session.session
        try:
            self._verifier = TokenVerifier([session.token_public_key]) if session.token_public_key else None
        except ValueError:
            log.warning("the tracker's token key is malformed; serving nothing")
            self._verifier = None
        self.shares_keeper.serve_user(session.user_id)
        self.heartbeat.start(session.heartbeat_interval)
        self.downloads_mgr.resume_all(session.user_id)
        self.check_memberships()

    async def _deactivate(self) -> None:
        self.login_generation += 1  # first: a command still hashing or asking the tracker must not act on after
        self._owned_pending = None  # another user may log in next: their groups are listed afresh
        self.completion.clear()  # nor offered at Tab to whoever logs in next
        self._owned_requesters = {}
        await self.heartbeat.stop()
        await self.downloads_mgr.stop_all()
        await self.shares_keeper.stop_serving()
        self.server.forget_sent_by_user()
        self._verifier = None

    async def session_ended(self, session: SessionRecord) -> bool:
        """The tracker no longer knows our session (401): log out locally, unless the session that replaced it is
        ours after all (``rescue_session``: True then)."""
        if await self.rescue_session(session):
            return True
        if self.state.session is not None and self.state.session.session == session.session:
            log.warning("the tracker ended our session: logged out")
            await self._deactivate()
            self.tracker.session_token = None
            await self.state.clear_session()
            self._tell_logout(session.user_id)
        return False

    def _user(self, as_user: str | None = None) -> SessionRecord:
        """The logged-in user. ``as_user``: the user a request was made for, which must still be the one logged in
        (a browser upload takes seconds: alice's file was shared as bob's when bob logged in meanwhile)."""
        if self.state.session is None:
            raise NotLoggedIn("not logged in: use login <user_id> <passwd>")
        if as_user is not None and self.state.session.user_id != as_user:
            raise NotLoggedIn(f"you ({as_user}) were logged out of this node meanwhile; nothing was done")
        return self.state.session

    async def authed(self, method: str, path: str, body: dict[str, object] | None = None, *,
                      write: bool = False) -> dict[str, object]:
        """A call for the logged-in user, under their session on every attempt: one the node waits to send again
        (the tracker said "slow down": up to 20 s) is never sent as whoever logged in meanwhile."""
        session = self._user()
        try:
            return await self._under(session, method, path, body, write)
        except NotLoggedIn:
            # Logged out, or another user logged in, meanwhile: _user says so, and nothing was done
            if not await self.session_ended(session) and self._user(session.user_id).session == session.session:
                raise
        # Our session was replaced by one this node opened (``rescue_session``, a password check): once more, under it.
        return await self._under(self._user(session.user_id), method, path, body, write)

    async def _under(self, session: SessionRecord, method: str, path: str, body: dict[str, object] | None,
                     write: bool) -> dict[str, object]:
        if write:
            return await self.tracker.write(method, path, body, token=session.session)
        return await self.tracker.call(method, path, body, token=session.session)

    # --- files
    async def upload_file(self, path: str, group_id: str, progress: Progress | None = None, *,
                          as_user: str | None = None) -> SharedFile:
        check_id(group_id, "group id")
        if not path or "\x00" in path:
            raise BadInput("invalid file path")
        user = self._user(as_user).user_id
        generation = self.login_generation  # with the user: a logout from here on is seen, the membership check too
        full = _absolute(path)
        check_new_file_name(PurePath(full).name)
        self._refuse_own_data(full)
        detail = await self.authed("GET", path_of("groups", group_id))
        if role_of(detail.get("my_status")) not in (GroupRole.OWNER, GroupRole.MEMBER):
            raise Forbidden(f"you are not a member of {group_id}")
        shared = await self.shares_keeper.share(user, group_id, full, progress, generation)
        if self.login_generation == generation:
            self.completion.file_shared(user, group_id, shared.file_name)
        return shared

    def _refuse_own_data(self, full: str) -> None:
        real, data = os.path.realpath(full), os.path.realpath(self.config.data_dir)
        refusal = own_data_refusal(real, data, is_upload_copy(real, Path(data)))
        if refusal is not None:
            raise BadInput(refusal)

    async def stop_share(self, group_id: str, file_name: str) -> ShareEnd:
        """Stop serving the file, and say how. With no tracker reachable the node stops serving all the same (a
        share made by mistake must end now): the tracker then lists the file as offline. A share this node holds
        but the tracker does not know as the user's (ended, or the group left, from another node of theirs)
        ends here too: refused, the node would serve it on with no way to stop it."""
        check_id(group_id, "group id")
        check_file_name(file_name)
        user = self._user().user_id
        end = ShareEnd.TOLD
        async with self.shares_keeper.locks.hold((user, group_id, file_name)):  # never amid an upload of it
            try:
                await self.authed("DELETE", path_of("groups", group_id, "files", file_name, "share"), {},
                                  write=True)
            except (Unavailable, NotFound, Forbidden) as exc:
                if (user, group_id, file_name) not in self.state.shares:
                    raise
                end = (ShareEnd.NO_TRACKER if isinstance(exc, Unavailable) else
                       ShareEnd.UNKNOWN_THERE if isinstance(exc, NotFound) else ShareEnd.NOT_MEMBER)
                log.warning("stopped sharing %s in %s on this node without the tracker (%s)", file_name, group_id,
                            exc.message)
            await self.shares_keeper.forget(user, group_id, file_name)
        self.heartbeat.wake()
        return end

    def shares(self) -> list[SharedFile]:
        user = self._user().user_id
        absent = self.shares_keeper.absent
        listed = []
        for s in self.state.shares.values():
            if s.user_id == user:
                absence = absent.get(s.key)
                listed.append(SharedFile(s.group_id, s.file_name, s.path, s.size, s.meta.sha256,
                                         *((absence.why, absence.since) if absence is not None else (None, None))))
        return listed

    # --- downloads
    async def download_file(self, group_id: str, file_name: str, destination: str, *,
                            as_user: str | None = None) -> DownloadView:
        user = self._user(as_user)
        try:
            return await self.downloads_mgr.start(user.user_id, group_id, file_name, destination)
        except NotLoggedIn:
            await self.session_ended(user)
            raise

    async def remove_download(self, group_id: str, file_name: str) -> DownloadView:
        return await self.downloads_mgr.remove(self._user().user_id, group_id, file_name)

    async def pause_download(self, group_id: str, file_name: str) -> DownloadView:
        return await self.downloads_mgr.pause(self._user().user_id, group_id, file_name)

    async def resume_download(self, group_id: str, file_name: str) -> DownloadView:
        return await self.downloads_mgr.resume(self._user().user_id, group_id, file_name)

    def downloads(self) -> list[DownloadView]:
        return self.downloads_mgr.views(self._user().user_id)

    # --- status and settings
    def tracker_time(self) -> float:
        """The trackers' time (``tracker_clock``): what their times (a member's "last seen") are read against."""
        return self.tracker.clock.now()

    def status(self) -> NodeStatus:
        session = self.state.session
        if not self.tracker.reachable:  # the last call found none: say so, not the tracker that answered before
            return NodeStatus(session.user_id if session else None, self.config.piece_addr, None, None, False,
                              self.server.upload_limit, self.tracker.paced_for(), self.download_limit.rate)
        tracker = self.tracker.current
        return NodeStatus(session.user_id if session else None, self.config.piece_addr, str(tracker),
                          tracker.rank, self.tracker.failed_over, self.server.upload_limit, self.tracker.paced_for(),
                          self.download_limit.rate)

    async def set_upload_limit(self, rate: int | None) -> None:
        """Cap what the node uploads in all, at once and across restarts; None lifts the cap. Open to a
        logged-out node too: it is the computer's link that the limit protects, not an account's."""
        if rate is not None and rate <= 0:
            raise BadInput("an upload limit is a positive rate (or none)")
        await self.state.set_settings(replace(self.state.settings, upload_limit=rate))
        self.server.set_upload_limit(rate)

    def note_local_names(self) -> None:
        """This node's shares and downloads, for Tab at the console (``completion_cache``: the console thread may
        not read the state's dicts, which the event loop changes)."""
        session = self.state.session
        if session is None:
            return
        user = session.user_id
        shares = [(s.group_id, s.file_name) for s in self.state.shares.values() if s.user_id == user]
        self.completion.local(user, shares, [(d.group_id, d.file_name) for d in self.downloads_mgr.views(user)])

    async def set_download_limit(self, rate: int | None) -> None:
        """Cap what all the node's downloads fetch together, at once (running downloads too) and across restarts;
        None lifts the cap. Open to a logged-out node, as the upload limit is."""
        if rate is not None and rate <= 0:
            raise BadInput("a download limit is a positive rate (or none)")
        await self.state.set_settings(replace(self.state.settings, download_limit=rate))
        self.download_limit.set_rate(rate)

    def share_records(self, user_id: str) -> list[ShareRecord]:
        return [s for s in self.state.shares.values() if s.user_id == user_id]

