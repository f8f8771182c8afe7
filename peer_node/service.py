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
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path, PurePath
from typing import Any

from peer_node import login_state
from peer_node.config import NodeConfig
from peer_node.downloads import DownloadManager
from peer_node.group_commands import GroupCommands
from peer_node.groups_poll import GroupsPoll
from peer_node.hashing import Progress
from peer_node.heartbeat import Heartbeat
from peer_node.join_answers import JoinWatch
from peer_node.sensitive import own_data_refusal
from peer_node.shares import ShareKeeper
from peer_node.state import NodeState, SessionRecord, ShareRecord
from peer_node.swarm.catalog import ServedFiles
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
)
from wire.errors import BadInput, Conflict, Forbidden, GroupShareError, NotLoggedIn, Unavailable
from wire.names import MAX_PASSWORD, check_file_name, check_id
from wire.tokens import TokenVerifier

log = logging.getLogger(__name__)

OFFLINE_NOTICE_S = 2.0  # how long a stopping node waits to tell the tracker it goes offline


def _check_password(pw: object) -> str:
    if not isinstance(pw, str) or not pw or len(pw) > MAX_PASSWORD:
        raise BadInput(f"invalid password: 1-{MAX_PASSWORD} characters")
    return pw


def _absolute(path: str) -> str:
    """A path as the user meant it: ``~`` expanded, relative to the node's working directory."""
    return os.path.abspath(os.path.expanduser(path))


class NodeService(GroupCommands):
    def __init__(self, config: NodeConfig) -> None:
        self.config = config
        self.state = NodeState(config.data_dir)
        self.tracker = TrackerClient(config.trackers, config.tracker_timeout_s, config.tracker_retry_s)
        self.catalog = ServedFiles()
        # The node's TLS identity (key and self-signed certificate, made at first start): the piece server and
        # every download speak TLS with it, and the tracker learns its fingerprint at login.
        self.identity: NodeIdentity | None = load_or_create_identity(config.data_dir) if config.peer_tls else None
        self.server = PieceServer(config.piece_host, config.piece_port, self.catalog, self._token_verifier,
                                  holds=self._holds, tls=self.identity)
        self._verifier: TokenVerifier | None = None
        self.heartbeat = Heartbeat(self)
        self.shares_keeper = ShareKeeper(self)
        self.downloads_mgr = DownloadManager(self.state, self.tracker, self.catalog,
                                             no_peer_timeout=config.download_stall_s,
                                             on_complete=self.shares_keeper.adopt_download,
                                             register=self.shares_keeper.register,
                                             on_change=self.heartbeat.wake, tls=self.identity,
                                             resume_check_s=config.resume_check_s)
        self.join_watch = JoinWatch(self.state)
        self._groups_poll_clock = GroupsPoll()
        self._login_lock = asyncio.Lock()
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
        self.server.set_upload_limit(self.state.settings.upload_limit)
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
        await self._deactivate()
        await self._say_offline()
        await self.server.close()
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

    async def _deactivate(self) -> None:
        self.login_generation += 1  # first: a command still hashing or asking the tracker must not act on after
        self._owned_pending = None  # another user may log in next: their groups are listed afresh
        await self.heartbeat.stop()
        await self.downloads_mgr.stop_all()
        await self.shares_keeper.stop_serving()
        self._verifier = None

    async def session_ended(self, session: SessionRecord) -> None:
        """The tracker no longer knows our session (401): log out locally."""
        if self.state.session is not None and self.state.session.session == session.session:
            log.warning("the tracker ended our session: logged out")
            await self._deactivate()
            self.tracker.session_token = None
            await self.state.clear_session()
            self._tell_logout(session.user_id)

    def _user(self) -> SessionRecord:
        if self.state.session is None:
            raise NotLoggedIn("not logged in: use login <user_id> <passwd>")
        return self.state.session

    async def authed(self, method: str, path: str, body: dict[str, object] | None = None, *,
                      write: bool = False) -> dict[str, object]:
        session = self._user()
        try:
            if write:
                return await self.tracker.write(method, path, body)
            return await self.tracker.call(method, path, body)
        except NotLoggedIn:
            await self.session_ended(session)
            raise

    # --- users and login
    @staticmethod
    async def _keep_login_state(write: Callable[..., None], *args: Any) -> None:
        """The node's own notes about a login (the offline password check, the fingerprint it was opened with):
        a disk that cannot take them must not fail the login or logout itself."""
        try:
            await asyncio.to_thread(write, *args)
        except OSError as exc:
            log.warning("cannot keep the login's notes in the data dir: %s", exc.strerror or exc)

    def _login_body(self, user_id: str, password: str) -> dict[str, object]:
        """POST /sessions: the tracker lists our address and certificate fingerprint to downloaders and binds
        the access tokens it mints for us to that fingerprint ("" under --no-tls)."""
        return {"user_id": user_id, "password": password, "peer_addr": self.config.piece_addr,
                "fingerprint": self.fingerprint}

    async def _open_session(self, user_id: str, password: str) -> tuple[str, dict[str, Any]]:
        """POST /sessions for this node; (the new session token, the tracker's answer). Records the fingerprint
        the session was opened with (``login_state``)."""
        doc = await self.tracker.write("POST", "/sessions", self._login_body(user_id, password), auth=False)
        token = doc.get("session")
        if not isinstance(token, str) or not token:
            raise BadInput("the tracker answered the login without a session")
        await self._keep_login_state(login_state.record_fingerprint, self.config.data_dir, self.fingerprint)
        return token, doc

    async def create_user(self, user_id: str, password: str) -> None:
        check_id(user_id, "user id")
        _check_password(password)
        await self.tracker.write("POST", "/users", {"user_id": user_id, "password": password}, auth=False)

    async def login(self, user_id: str, password: str) -> str:
        check_id(user_id, "user id")
        _check_password(password)
        if self.state.session is not None and self.state.session.user_id == user_id:
            # Already this user: a script's repeated login is not an error, but its password is still checked.
            await self.confirm_login(user_id, password)
            return user_id
        async with self._login_lock:
            if self.state.session is not None:
                raise Conflict(f"already logged in as {self.state.session.user_id}: logout first")
            token, doc = await self._open_session(user_id, password)
            await self._keep_login_state(login_state.remember, self.config.data_dir, user_id, password)
            interval = doc.get("heartbeat_interval", 5)
            session = SessionRecord(user_id, token, str(doc.get("token_public_key") or ""),
                                    float(interval) if isinstance(interval, int | float) else 5.0)
            await self.state.set_session(session)
            self._activate(session)
            return user_id

    async def confirm_login(self, user_id: str, password: str) -> None:
        """Check the password of the user this node already acts for (the browser logging in to a node that
        /cmd logged in). The tracker checks it by a new login from this same node, which replaces our session:
        the new token takes over at once and a heartbeat re-announces our holdings under it. A wrong password
        changes nothing (the tracker refuses before it drops the old session). The heartbeat pauses meanwhile:
        a beat in flight with the old token would get a 401 and end the heartbeat loop."""
        check_id(user_id, "user id")
        _check_password(password)
        async with self._login_lock:
            current = self._user()
            if current.user_id != user_id:
                raise Conflict(f"already logged in as {current.user_id}: logout first")
            await self.heartbeat.stop()
            try:
                try:
                    token, doc = await self._open_session(user_id, password)
                except Unavailable:
                    # No tracker to ask: the node's own check of the password it last accepted (login_state).
                    known = await self.offline_check.matches(user_id, password)
                    if known is None:
                        raise
                    if not known:
                        raise NotLoggedIn("wrong user id or password") from None
                    return
                await self._keep_login_state(login_state.remember, self.config.data_dir, user_id, password)
                key = str(doc.get("token_public_key") or "") or current.token_public_key
                await self.state.set_session(SessionRecord(user_id, token, key, current.heartbeat_interval))
                self.tracker.session_token = token
            finally:
                if self.state.session is not None:
                    self.heartbeat.start(self.state.session.heartbeat_interval)  # the first beat goes at once

    async def logout(self) -> None:
        async with self._login_lock:
            user = self._user()
            await self._deactivate()
            try:
                await self.tracker.write("DELETE", "/sessions/current", {})
            except NotLoggedIn:
                pass  # the tracker had ended it already: logged out either way
            except Unavailable as exc:
                log.warning("logged out locally; no tracker heard it (%s)", exc.message)
            finally:
                # Logged out locally even when no tracker answers: the session then dies of silence
                # (no heartbeats) after the tracker's peer timeout.
                self.tracker.session_token = None
                await self.state.clear_session()
                await self._keep_login_state(login_state.forget, self.config.data_dir)
                self._tell_logout(user.user_id)

    def _tell_logout(self, user_id: str) -> None:
        for listener in self.on_logout:
            try:
                listener(user_id)
            except OSError as exc:  # the browser's session file: logged out all the same
                log.warning("could not end the browser sessions of %s: %s", user_id, exc)

    # --- files
    async def upload_file(self, path: str, group_id: str, progress: Progress | None = None) -> SharedFile:
        check_id(group_id, "group id")
        if not path or "\x00" in path:
            raise BadInput("invalid file path")
        user = self._user().user_id
        full = _absolute(path)
        check_file_name(PurePath(full).name)
        self._refuse_own_data(full)
        detail = await self.authed("GET", path_of("groups", group_id))
        if role_of(detail.get("my_status")) not in (GroupRole.OWNER, GroupRole.MEMBER):
            raise Forbidden(f"you are not a member of {group_id}")
        return await self.shares_keeper.share(user, group_id, full, progress)

    def _refuse_own_data(self, full: str) -> None:
        real, data = os.path.realpath(full), os.path.realpath(self.config.data_dir)
        refusal = own_data_refusal(real, data, is_upload_copy(real, Path(data)))
        if refusal is not None:
            raise BadInput(refusal)

    async def stop_share(self, group_id: str, file_name: str) -> bool:
        """Stop serving the file; whether the tracker was told. With no tracker reachable the node stops serving
        all the same (a share made by mistake must end now): the tracker then lists the file as offline."""
        check_id(group_id, "group id")
        check_file_name(file_name)
        user = self._user().user_id
        told = True
        async with self.shares_keeper.locks.hold((user, group_id, file_name)):  # never amid an upload of it
            try:
                await self.authed("DELETE", path_of("groups", group_id, "files", file_name, "share"), {},
                                  write=True)
            except Unavailable:
                if (user, group_id, file_name) not in self.state.shares:
                    raise
                told = False
                log.warning("stopped sharing %s in %s without telling the tracker (none reachable)", file_name,
                            group_id)
            await self.shares_keeper.forget(user, group_id, file_name)
        self.heartbeat.wake()
        return told

    def shares(self) -> list[SharedFile]:
        user = self._user().user_id
        return [SharedFile(s.group_id, s.file_name, s.path, s.size, s.meta.sha256)
                for s in self.state.shares.values() if s.user_id == user]

    # --- downloads
    async def download_file(self, group_id: str, file_name: str, destination: str) -> DownloadView:
        user = self._user()
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
    def status(self) -> NodeStatus:
        session = self.state.session
        if not self.tracker.reachable:  # the last call found none: say so, not the tracker that answered before
            return NodeStatus(session.user_id if session else None, self.config.piece_addr, None, None, False,
                              self.server.upload_limit)
        tracker = self.tracker.current
        return NodeStatus(session.user_id if session else None, self.config.piece_addr, str(tracker),
                          tracker.rank, self.tracker.failed_over, self.server.upload_limit)

    async def set_upload_limit(self, rate: int | None) -> None:
        """Cap what the node uploads in all, at once and across restarts; None lifts the cap. Open to a
        logged-out node too: it is the computer's link that the limit protects, not an account's."""
        if rate is not None and rate <= 0:
            raise BadInput("an upload limit is a positive rate (or none)")
        await self.state.set_settings(replace(self.state.settings, upload_limit=rate))
        self.server.set_upload_limit(rate)

    def share_records(self, user_id: str) -> list[ShareRecord]:
        return [s for s in self.state.shares.values() if s.user_id == user_id]

