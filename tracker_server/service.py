"""The tracker's rules: every command of the contract, decided against the in-memory state.

Theory of operation: a write is (1) an op_id look-up: a retry gets the first answer, waiting for it to be durable
if it is still in flight; (2) any slow preparation off the loop (scrypt); (3) a synchronous ``decide`` that checks
the rules against ``State`` and builds a fully decided op (new owner, dropped sessions...), with no ``await``
between the check and the apply, so two concurrent requests can never both pass a check only one may pass;
(4) the entry is applied to memory and handed to the ``LogWriter``; the caller is answered once it is durable.
Reads come from memory (``queries.py``). Nothing here sees ``web.Request``; errors are ``wire.errors`` classes.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
from collections.abc import Awaitable, Callable

from tracker_server.cluster_auth import cluster_key
from tracker_server.config import TrackerConfig
from tracker_server.group_ops import GroupOps, refuse_case_twin
from tracker_server.hash_gate import HashGate
from tracker_server.listing_cache import ListingCache
from tracker_server.liveness import Holding, HoldingKey, Liveness
from tracker_server.log import LogWriter
from tracker_server.op_result import OpResult as OpResult
from tracker_server.passwords import PasswordHasher
from tracker_server.quotas import Quotas
from tracker_server.signups import SignupPolicy, SignupThrottle
from tracker_server.state import Entry, Group, Op, Session, State, request_digest
from tracker_server.throttle import RegistrationGate
from tracker_server.write_rate import WritePolicy, WriteRate
from wire.errors import BadInput, Conflict, Forbidden, GroupShareError, NotFound, NotLoggedIn, Unavailable
from wire.login_throttle import LoginThrottle
from wire.records import FileMeta
from wire.tokens import public_key_hex, signing_key_from_secret

BAD_LOGIN = "unknown user or wrong password"
log = logging.getLogger(__name__)


class TrackerService(GroupOps):
    def __init__(self, config: TrackerConfig, state: State, writer: LogWriter) -> None:
        self.config = config
        self.state = state
        self.writer = writer
        self.liveness = Liveness(config.peer_timeout)
        self.hasher = PasswordHasher(config.scrypt_log2_n, gate=HashGate(per_address=config.hashes_per_address))
        self.signing_key = signing_key_from_secret(config.secret)
        self.public_key = public_key_hex(self.signing_key)
        self.role = "primary"
        # The epoch this tracker leads in: its entries carry it, never a newer epoch merely heard of (an entry
        # with another primary's epoch at an index that primary also uses would break the log-matching rule).
        self.lead_epoch = state.epoch
        # False from an election until the new primary's no-op entry is acknowledged: only then is everything
        # before it on enough trackers, so only then may old answers be handed to retries (Raft's rule that a
        # leader commits earlier entries through one of its own epoch).
        self.settled = True
        # Why no write may be decided now, though this tracker is primary (replication.py sets it: with 2 trackers,
        # while the other refuses our signature). Checked before anything is decided or logged.
        self.writes_held: str | None = None
        self._in_flight: dict[str, asyncio.Future[None]] = {}
        # Pairs (account, address) are named by an HMAC under the cluster key: the same on every tracker.
        self.throttle = LoginThrottle(state.login_failures, secret=cluster_key(config.secret))
        self.writes = WriteRate(WritePolicy(config.write_burst, config.write_interval, config.write_burst,
                                            config.write_interval))  # and successful logins per account
        self.quotas = Quotas()
        self.registrations = RegistrationGate()
        self.signups = SignupThrottle(SignupPolicy(burst=config.signup_burst, interval=config.signup_interval))
        self.listings = ListingCache()
        self._heartbeat_body = (-1, b"")  # (epoch, encoded heartbeat answer): it changes only with the epoch
        self._metas: tuple[State | None, int, dict[str, dict[str, FileMeta]]] = (None, -1, {})
        self.grace_sessions(config.clock())

    def now(self) -> float:
        return self.config.clock()

    def grace_sessions(self, now: float) -> None:
        """Sessions known from SQLite count as live from ``now`` until they miss a heartbeat window."""
        for token in self.state.sessions:
            if self.liveness.seen_at(token) is None:
                self.liveness.touch(token, now)
        self.liveness.stamped()

    def grace_after_failover(self, now: float) -> None:
        """A new primary knows little soft state: every session gets two heartbeat intervals to re-announce."""
        floor = now - self.config.peer_timeout + 2 * self.config.heartbeat_interval
        for token in self.state.sessions:
            self.liveness.touch(token, max(self.liveness.last_seen.get(token, floor), floor))
        self.liveness.stamped()

    async def mark_epoch(self, op_id: str) -> None:
        """A new primary's first entry (a no-op of its epoch): see replication.py."""
        await self._write(f"{op_id}-{secrets.token_hex(4)}", "noop", lambda: ({}, OpResult(200, {})))
        self.settled = True

    def replace_state(self, state: State) -> None:
        """After a reload or snapshot install: keep the soft state of sessions that still exist."""
        self.state = state
        self.throttle.records = state.login_failures
        for token in self.liveness.tokens():
            if token not in state.sessions:
                self.liveness.forget(token)
        self.grace_sessions(self.now())

    # ------------------------------------------------------------------------------------------ plumbing

    def session(self, token: str | None) -> Session:
        session = self.state.sessions.get(token or "")
        if session is None:
            raise NotLoggedIn("not logged in (no such session; log in again)")
        return session

    def group(self, group_id: str) -> Group:
        group = self.state.groups.get(group_id)
        if group is None:
            raise NotFound(f"no such group: {group_id}")
        return group

    def member_group(self, session: Session, group_id: str) -> Group:
        group = self.group(group_id)
        if session.user_id not in group.members:
            raise Forbidden(f"only members of {group_id} may do that")
        return group

    def owner_group(self, session: Session, group_id: str) -> Group:
        group = self.group(group_id)
        if group.owner != session.user_id:
            raise Forbidden(f"only the owner of {group_id} may do that")
        return group

    def _check_primary(self, kind: str) -> None:
        if self.role != "primary" or self.lead_epoch != self.state.epoch:
            raise Unavailable("this tracker is not the primary; retry on another")
        if self.writes_held is not None:
            raise Unavailable(self.writes_held)
        if not self.settled and kind != "noop":
            raise Unavailable("a new primary is taking over; retry")

    async def _write(self, op_id: str, kind: str, decide: Callable[[], tuple[Op, OpResult]],
                     prepare: Callable[[], Awaitable[None]] | None = None, request: tuple[str, ...] = (),
                     by: str | None = None) -> OpResult:
        """Decide, log and replicate one write; a retry of ``op_id`` gets the first answer. ``request`` is who asks
        and with what: an op_id reused by another user or with other arguments is a different operation (409),
        never answered with the first one's result (which would also leave the second undone). ``by`` (a user)
        pays a write token (``write_rate.py``) before anything is prepared or written; a retry answered from the
        log costs none."""
        self._check_primary(kind)
        digest = request_digest(*request)
        prior = self.state.results.get(op_id)
        if prior is None and by is not None:
            self.writes.charge_user(by, self.now())
        if prior is None and prepare is not None:
            await prepare()
            prior = self.state.results.get(op_id)  # a twin request may have landed meanwhile
        if prior is not None:
            if prior[0] not in (f"{kind}:{digest}", kind):  # the kind alone: logged before requests were
                raise Conflict("op_id already used for another operation")
            pending = self._in_flight.get(op_id)
            if pending is not None:
                await asyncio.shield(pending)
            elif self.writer.committed < self.state.index:
                # The first attempt may have failed to replicate (its client got 503): make sure it is on
                # enough trackers before handing its answer out; a no-op ships everything before it.
                await self._write(f"commit-{secrets.token_hex(8)}", "noop", lambda: ({}, OpResult(200, {})))
            return OpResult.from_json(prior[1])
        self._check_primary(kind)
        op, result = decide()
        op["t"] = kind
        op["rq"] = digest
        entry = Entry(self.lead_epoch, self.state.index + 1, op_id, op, result.to_json())
        self.state.apply(entry)
        fut = self.writer.submit(entry)
        self._in_flight[op_id] = fut
        # Forgotten when the write lands, not when this caller leaves: a caller cancelled first (its client hung
        # up) would otherwise leave it for every retry to await, failed or not, for ever.
        fut.add_done_callback(lambda _: self._in_flight.pop(op_id, None))
        await asyncio.shield(fut)
        return result

    # ------------------------------------------------------------------------------------------ users, sessions

    async def create_user(self, op_id: str, user_id: str, password: str, client_addr: str = "") -> OpResult:
        hashed: list[str] = []

        async def prepare() -> None:
            if user_id not in self.state.users:
                with self.registrations.enter():  # sign-ups must not queue without bound ahead of logins
                    # only a sign-up that hashes costs a token (not one the hasher's gate refuses)
                    charge = lambda: self.signups.charge(client_addr, self.now())  # noqa: E731
                    hashed.append(await self.hasher.hash(password, client_addr, admitted=charge))

        def decide() -> tuple[Op, OpResult]:
            if user_id in self.state.users or not hashed:
                raise Conflict(f"user id {user_id} is taken")
            refuse_case_twin("user", user_id, self.state.users)
            return {"u": user_id, "h": hashed[0]}, OpResult(201, {"user_id": user_id})

        return await self._write(op_id, "create_user", decide, prepare, request=(user_id,))

    async def login(self, op_id: str, user_id: str, password: str, peer_addr: str, fingerprint: str,
                    client_addr: str = "") -> OpResult:
        # Throttled before any hashing; verified even for a retry: an op_id alone must never hand out a session.
        keys = self.throttle.keys(user_id, client_addr)
        now = self.now()
        self.throttle.check(keys, now)
        self.writes.check_login(user_id, client_addr, now)
        with self.throttle.attempt(keys):
            good = await self.hasher.verify(password, self.state.users.get(user_id), client_addr)
        self.writes.spend_login(user_id, client_addr, good, self.now())
        if not good:
            await self._write(self.throttle.failure_id(op_id, user_id, password), "login_fail",
                              lambda: (self.throttle.failure_op(keys, self.now()), OpResult(401, {})))
            raise NotLoggedIn(BAD_LOGIN)

        def decide() -> tuple[Op, OpResult]:
            now = self.now()
            old_token = self.state.session_of_user.get(user_id)
            if old_token is not None:
                old = self.state.sessions[old_token]
                if old.peer_addr != peer_addr and self.liveness.is_live(old_token, now):
                    raise Conflict(f"user {user_id} is logged in on another live node ({old.peer_addr})")
            token = secrets.token_urlsafe(32)
            # Live from the moment it is decided: a login from another node decided while this one is still being
            # written must find it live and be refused (stamped only after the write, both got a session).
            self.liveness.touch(token, now)
            op = {"u": user_id, "token": token, "peer": peer_addr, "fp": fingerprint,
                  "drop": [old_token] if old_token else [], "clear": self.throttle.clear_on_success(keys)}
            body = {"session": token, "user_id": user_id, "token_public_key": self.public_key,
                    "heartbeat_interval": self.config.heartbeat_interval, "epoch": self.state.epoch}
            return op, OpResult(200, body)

        result = await self._write(op_id, "login", decide, request=(user_id, peer_addr, fingerprint))
        if result.body.get("user_id") != user_id:
            raise Conflict("op_id already used for another operation")
        token = str(result.body["session"])
        for dropped in self.liveness.tokens():
            if dropped != token and dropped not in self.state.sessions:
                self.liveness.forget(dropped)
        self.liveness.touch(token, self.now())
        await self._remember_pair(keys)
        return result

    async def _remember_pair(self, keys: list[str]) -> None:
        """Remember this (account, address) pair logged in: the account-wide guard never refuses it (a records
        entry, for a new pair or once a day; if it fails, the login stands)."""
        op = self.throttle.success_op(keys, self.now())
        if op is None:
            return
        try:
            await self._write(f"login-known.{secrets.token_hex(16)}", "login_fail", lambda: (op, OpResult(200, {})))
        except GroupShareError as exc:
            log.info("a successful login's address was not remembered: %s", exc.message)

    async def logout(self, op_id: str, token: str | None) -> OpResult:
        session = self.state.sessions.get(token or "")
        if session is None and op_id not in self.state.results:
            raise NotLoggedIn("not logged in")

        def decide() -> tuple[Op, OpResult]:
            self.session(token)
            return {"token": token}, OpResult(200, {})

        result = await self._write(op_id, "logout", decide, request=(token or "",),
                                   by=session.user_id if session is not None else None)
        if token is not None and self.liveness.seen_at(token) is not None:
            self.liveness.forget(token)
        return result

    def heartbeat(self, token: str | None, raw: list[tuple[str, str, Holding]]) -> bytes:
        """Soft state only: stamp the session live and replace its holdings (unknown files are ignored).

        Returns the encoded answer, which depends only on the epoch (the interval is fixed)."""
        session = self.session(token)
        holdings: dict[HoldingKey, Holding] = {}
        for group_id, sha, bits in raw:
            group = self.state.groups.get(group_id)
            if group is None or session.user_id not in group.members:
                continue
            meta = self._metas_of(group).get(sha)
            if meta is None:
                continue
            if bits is not None and len(bits) != (meta.piece_count + 7) // 8:
                raise BadInput(f"bitfield for {sha[:12]}... must be {(meta.piece_count + 7) // 8} bytes")
            holdings[(group_id, sha)] = bits
        self.liveness.report(session.token, self.now(), holdings)
        epoch, body = self._heartbeat_body
        if epoch != self.state.epoch:
            epoch = self.state.epoch
            body = json.dumps({"heartbeat_interval": self.config.heartbeat_interval, "epoch": epoch}).encode()
            self._heartbeat_body = (epoch, body)
        return body

    def going_offline(self, token: str | None) -> None:
        """The session's node stops: offline at once, its holdings gone (see ``handlers.going_offline``)."""
        self.liveness.went_offline(self.session(token).token, self.now())

    def _metas_of(self, group: Group) -> dict[str, FileMeta]:
        """sha256 -> metadata of the group's files, rebuilt after any applied entry (was a scan per holding)."""
        state, version, by_group = self._metas
        if state is not self.state or version != self.state.version:
            by_group = {}
            self._metas = (self.state, self.state.version, by_group)
        metas = by_group.get(group.group_id)
        if metas is None:
            metas = by_group[group.group_id] = {}
            for shared in group.files.values():  # two names with one content: the first shared wins, as before
                metas.setdefault(shared.meta.sha256, shared.meta)
        return metas
