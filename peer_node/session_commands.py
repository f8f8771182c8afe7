"""Users and login of a peer node: sign up, log in (or confirm the password of the user the node acts for), log out.

A mixin of ``NodeService`` (its public face for the session, split out to keep each module about one thing). The
tracker checks passwords and opens sessions; these methods keep the node's side in step: the session record, the
heartbeat and the shares and downloads it starts or stops (``_activate``/``_deactivate``), the node's own notes
about the login (``login_state``: the fingerprint, the offline password check), and whoever listens for a logout
(the browser's sessions end too). One login or logout at a time (``_login_lock``).

A password check no tracker answered (a tracker stalled on its disk took it and answered too late) is accepted by
the node's own check, but that tracker applies it once it goes on, and the session it opens replaces ours: the
node's next call gets a 401. So the check's request is kept (``UnansweredLogin``, for ``UNANSWERED_LOGIN_S`` at
most: it holds the password), and that 401 sends it again with the same op_id (``rescue_session``): the tracker
answers a write it applied with the same answer, the new session, whose token the node then goes on with.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from abc import abstractmethod
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from peer_node import login_state
from peer_node.config import NodeConfig
from peer_node.heartbeat import Heartbeat
from peer_node.state import NodeState, SessionRecord, StateNotSaved
from peer_node.tracker_client import TrackerClient, UnansweredWrite, Waiting
from wire.errors import BadInput, Conflict, GroupShareError, NotLoggedIn, Unavailable
from wire.names import MAX_PASSWORD, check_id

log = logging.getLogger(__name__)

UNANSWERED_LOGIN_S = 600.0  # a stalled tracker that answers later than this has long failed over


@dataclass(frozen=True, slots=True)
class UnansweredLogin:
    """A password check's POST /sessions that a tracker took and did not answer."""

    replaces: str  # the session token it would replace
    body: dict[str, Any]  # the request as sent, op_id included
    at: float  # when (monotonic)


def _check_password(pw: object) -> str:
    if not isinstance(pw, str) or not pw or len(pw) > MAX_PASSWORD:
        raise BadInput(f"invalid password: 1-{MAX_PASSWORD} characters")
    return pw



class SessionCommands:
    # Provided by NodeService.
    state: NodeState
    config: NodeConfig
    tracker: TrackerClient
    heartbeat: Heartbeat
    offline_check: login_state.OfflineCheck
    on_logout: list[Callable[[str], object]]
    _login_lock: asyncio.Lock
    _unanswered_login: UnansweredLogin | None
    _user: Callable[[], SessionRecord]
    _activate: Callable[[SessionRecord], None]
    _deactivate: Callable[[], Coroutine[Any, Any, None]]

    @property
    @abstractmethod
    def fingerprint(self) -> str: ...

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

    async def _open_session(self, user_id: str, password: str, op_id: str | None = None,
                            waiting: Waiting | None = None) -> tuple[str, dict[str, Any]]:
        """POST /sessions for this node; (the new session token, the tracker's answer). Records the fingerprint
        the session was opened with (``login_state``). ``waiting``: as ``TrackerClient.call``'s."""
        doc = await self.tracker.write("POST", "/sessions", self._login_body(user_id, password), auth=False,
                                       op_id=op_id, waiting=waiting)
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
            self._unanswered_login = None  # a newer check: the older one's session, if any, is replaced anyway
            op_id = uuid.uuid4().hex
            try:
                try:
                    token, doc = await self._open_session(user_id, password, op_id,
                                                          lambda: self._beating(current.heartbeat_interval))
                except Unavailable as exc:
                    # No tracker to ask: the node's own check of the password it last accepted (login_state).
                    known = await self.offline_check.matches(user_id, password)
                    if known is None:
                        raise
                    if not known:
                        raise NotLoggedIn("wrong user id or password") from None
                    if isinstance(exc, UnansweredWrite):  # applied later, it replaces our session (module doc)
                        body = {**self._login_body(user_id, password), "op_id": op_id}
                        self._unanswered_login = UnansweredLogin(current.session, body, time.monotonic())
                    return
                await self._keep_login_state(login_state.remember, self.config.data_dir, user_id, password)
                key = str(doc.get("token_public_key") or "") or current.token_public_key
                await self.state.set_session(SessionRecord(user_id, token, key, current.heartbeat_interval))
                self.tracker.session_token = token
            finally:
                if self.state.session is not None:
                    self.heartbeat.start(self.state.session.heartbeat_interval)  # the first beat goes at once

    @asynccontextmanager
    async def _beating(self, interval: float) -> AsyncIterator[None]:
        """While a password check waits out a tracker's "slow down" (up to 20 s, past the tracker's peer timeout):
        the heartbeat goes on, under the session still ours (a refused check replaced nothing), and is stopped
        again before the check is sent again."""
        self.heartbeat.start(interval)  # its first beat goes at once
        try:
            yield
        finally:
            await self.heartbeat.stop()

    async def rescue_session(self, ended: SessionRecord) -> bool:
        """After a 401 for ``ended``: whether an unanswered password check had opened the session that replaced
        it; if so, the node goes on with that one (module doc)."""
        async with self._login_lock:
            pending, self._unanswered_login = self._unanswered_login, None
            if (pending is None or pending.replaces != ended.session or self.state.session != ended
                    or time.monotonic() - pending.at > UNANSWERED_LOGIN_S):
                return False
            try:
                doc = await self.tracker.call("POST", "/sessions", pending.body, auth=False)
                token = doc.get("session")
                if not isinstance(token, str) or not token or token == ended.session:
                    return False
                key = str(doc.get("token_public_key") or "") or ended.token_public_key
                await self.state.set_session(SessionRecord(ended.user_id, token, key, ended.heartbeat_interval))
            except (GroupShareError, StateNotSaved) as exc:
                log.info("the password check no tracker answered did not open a session: %s", exc.message)
                return False
            self.tracker.session_token = token
            log.warning("the tracker applied a password check it had not answered, which replaced our session: "
                        "going on with the session it opened")
            self.heartbeat.start(ended.heartbeat_interval)  # the loop that got the 401 has ended
            return True

    async def logout(self) -> None:
        async with self._login_lock:
            self._unanswered_login = None
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
