"""Replication and failover between the trackers of the list: the I/O around ``election.py``'s decisions.

Theory of operation.
- Every tracker pings every other one each ``tracker_heartbeat`` (``/internal/v1/status``: epoch, role, log
  position); both sides learn from each ping. Hearing a primary of an epoch at least ours makes us follow it;
  hearing a higher epoch makes a primary step down.
- The primary's ``LogWriter`` calls ``ship`` for every group-committed batch after writing it locally. ``ship``
  pushes the batch to the other trackers (with 3+, not to one that failed within the last timeout) and returns
  once each has stored it durably or failed to answer; the write is acknowledged if ``may_acknowledge`` agrees
  (3+: majority; with 2, not while the other refuses our signature: it stores nothing, yet would win alone once
  we are gone). A secondary answering with a higher epoch deposes us: the write fails (503) and we step down.
- A secondary accepts an append only if the entry before it matches its newest entry (Raft's log matching: an
  (index, epoch) pair names one history). If not, the primary catches it up from its log when the secondary's
  log is a prefix of its own, else sends a full snapshot that replaces the secondary's tables and log: that is
  how a returning old primary drops the entries the new primary does not have.
- When the primary falls silent, secondaries consult ``should_stand``; a candidate first runs a pre-vote (no
  state changes, so a failed candidacy never disturbs a live primary), then a vote in the next epoch of its own
  (``election.next_epoch``: no two trackers lead one epoch, or an (index, epoch) pair could name two). The winner
  writes a no-op entry of its new epoch, so its log is the newest, and gives every known session a short grace
  so nodes can re-announce their heartbeats to it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import math
import time
from typing import Any

import aiohttp

from tracker_server import election
from tracker_server.catch_up import NET_ERRORS, CatchUp, Deposed
from tracker_server.catch_up_log import CatchUpLog
from tracker_server.cluster_link import ClusterLink, SignatureRefused
from tracker_server.config import TrackerConfig
from tracker_server.election import PeerView, SelfView
from tracker_server.log import LogWriter
from tracker_server.service import TrackerService
from tracker_server.snapshot_pace import SnapshotPace
from tracker_server.snapshot_stage import Incoming
from tracker_server.state import Entry
from tracker_server.store import Store
from wire.errors import Unavailable

log = logging.getLogger(__name__)
NO_MAJORITY_LOG_S = 60.0


WRITES_HELD = ("the other tracker refuses this one's signature (another cluster secret, or clocks more than 30 s "
               "apart): writes wait until that is fixed")


class Replicator(CatchUp):
    def __init__(self, config: TrackerConfig, store: Store, service: TrackerService, writer: LogWriter) -> None:
        self.cfg = config
        self.store = store
        self.svc = service
        self.writer = writer
        self.link = ClusterLink(config)
        self.me = config.tracker_no
        self.size = len(config.trackers)
        self.others = [t.rank for t in config.trackers if t.rank != self.me]
        self.peers: dict[int, PeerView] = {no: PeerView(no, None) for no in self.others}
        self.failed_at: dict[int, float] = {}
        self.primary_no: int | None = None
        self.primary_heard_at: float | None = None
        self.primary_since = 0.0
        self._no_majority_logged = -math.inf  # when "no majority answers" was last logged (once a minute at most)
        self.started_at = time.monotonic()
        self._links = {no: asyncio.Lock() for no in self.others}
        self.follow_lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._background: set[asyncio.Task[None]] = set()
        self.catch_up_log = CatchUpLog()  # a secondary's lines while it copies a log it lacks
        self.incoming: Incoming | None = None  # a snapshot in parts being received (snapshot_routes.py)
        self.snapshot_pace = SnapshotPace(config.tracker_timeout, 64 * config.tracker_timeout)

    # ------------------------------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        self.link.start()
        self.writer.ship = self.ship
        if self.size == 1:
            self._become_primary_role()
        else:
            self.svc.role = "secondary"
            self._task = asyncio.create_task(self._loop(), name="replication")

    async def stop(self) -> None:
        tasks = [t for t in (self._task, *self._background) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self.link.close()

    @property
    def http(self) -> aiohttp.ClientSession | None:
        return self.link.http

    @property
    def is_primary(self) -> bool:
        return self.svc.role == "primary"

    def status(self) -> dict[str, Any]:
        return {"from": self.me, "epoch": self.svc.state.epoch, "role": self.svc.role, "primary": self.primary_no,
                "last_index": self.writer.durable[0], "last_epoch": self.writer.durable[1]}

    def self_view(self) -> SelfView:
        return SelfView(self.me, self.size, self.svc.state.epoch, self.svc.role, self.writer.durable[0],
                        self.writer.durable[1], self.primary_heard_at, self.started_at)

    # ------------------------------------------------------------------------------------------ learning

    async def heard(self, no: int, status: dict[str, Any]) -> None:
        """Learn from another tracker's status (a ping, or the answer to ours)."""
        now = time.monotonic()
        view = PeerView(no, now, int(status["epoch"]), str(status["role"]), int(status["last_index"]),
                        int(status["last_epoch"]))
        self.peers[no] = view
        self.failed_at.pop(no, None)
        self._hold_writes()
        await self.adopt_epoch(view.epoch)
        if view.role == "primary" and view.epoch >= self.svc.state.epoch and not self.is_primary:
            self.primary_no, self.primary_heard_at = no, now

    async def adopt_epoch(self, epoch: int) -> None:
        if epoch > self.svc.state.epoch:
            if self.is_primary:  # before any await: no write may be decided in between
                self.step_down(f"tracker saw epoch {epoch}")
            self.svc.state.epoch = epoch
            await self.store.set_meta("epoch", str(epoch))

    def follow(self, no: int) -> None:
        if self.is_primary:
            self.step_down(f"tracker {no} is primary")
        self.primary_no, self.primary_heard_at = no, time.monotonic()

    # ------------------------------------------------------------------------------------------ the loop

    async def _loop(self) -> None:
        while True:
            try:
                await self._tick()
            except Exception:  # the boundary: replication must outlive any one bad round, so log and go on
                log.exception("replication round failed")
            await asyncio.sleep(self.cfg.tracker_heartbeat)

    async def _tick(self) -> None:
        await asyncio.gather(*(self._ping(no) for no in self.others))
        now = time.monotonic()
        peers = list(self.peers.values())
        if self.is_primary:
            if election.should_step_down(self.self_view(), peers, now, self.cfg.tracker_timeout,
                                         self.primary_since):
                self.step_down("cannot hear a majority")
            elif not self.svc.settled:
                await self._settle()
            else:
                for view in peers:
                    if view.alive(now, self.cfg.tracker_timeout) and \
                            (view.last_index, view.last_epoch) != self.writer.durable:
                        task = asyncio.create_task(self._sync(view.no))
                        self._background.add(task)
                        task.add_done_callback(self._background.discard)
        elif election.should_stand(self.self_view(), peers, now, self.cfg.tracker_timeout):
            await self._stand()
        elif election.without_majority(self.self_view(), peers, now, self.cfg.tracker_timeout):
            self._log_no_majority()

    async def _ping(self, no: int) -> None:
        try:
            # Half a timeout: one hung peer must not delay the pings to the others past their patience.
            answer = await self.link.post(no, "/internal/v1/status", self.status(),
                                          limit_s=self.cfg.tracker_timeout / 2)
            await self.heard(no, answer)
        except NET_ERRORS as exc:
            self.failed_at[no] = time.monotonic()
            refused = isinstance(exc, aiohttp.ClientConnectorError)
            rejects = isinstance(exc, SignatureRefused)
            if (self.peers[no].refused, self.peers[no].rejects_us) != (refused, rejects):
                self.peers[no] = dataclasses.replace(self.peers[no], refused=refused, rejects_us=rejects)
            self._hold_writes()

    def _hold_writes(self) -> None:
        """With 2 trackers no write is decided while the other refuses our signature (``ship`` says why)."""
        held = self.size <= 2 and any(p.rejects_us for p in self.peers.values())
        self.svc.writes_held = WRITES_HELD if held else None

    # ------------------------------------------------------------------------------------------ elections

    async def _stand(self) -> None:
        epoch = election.next_epoch(max([self.svc.state.epoch, *(p.epoch for p in self.peers.values())]), self.me,
                                    self.size)
        if not await self._ballot(epoch, pre=True):
            return
        await self.adopt_epoch(epoch)  # our own vote: this epoch's vote is spent
        if not await self._ballot(epoch, pre=False) or self.svc.state.epoch != epoch:
            return
        log.warning("tracker %d becomes primary in epoch %d", self.me, epoch)
        never_heard = sorted(no for no, view in self.peers.items() if view.heard_at is None)
        if self.size == 2 and never_heard:
            # The one case 2 trackers cannot cover (docs/REPLICATION.md): nothing here can tell whether the other
            # served writes alone after this one stopped. The operator can: say what to do if it did.
            log.warning("tracker %d leads alone without having heard tracker %d since it started: if tracker %d "
                        "served writes after this one stopped, they will be replaced by this tracker's state when "
                        "it is back. If that may be so, stop this tracker and start tracker %d first.",
                        self.me, never_heard[0], never_heard[0], never_heard[0])
        self._become_primary_role()
        self.svc.settled = False
        self.svc.grace_after_failover(self.svc.now())
        await self._settle()

    async def _settle(self) -> None:
        """Write the no-op entry of our epoch; until it is acknowledged no client write is served."""
        try:
            await self.svc.mark_epoch(f"epoch-{self.svc.lead_epoch}-tracker-{self.me}")
        except Unavailable as exc:
            log.warning("could not record the new epoch yet: %s", exc)

    async def _ballot(self, epoch: int, pre: bool) -> bool:
        request = {"epoch": epoch, "candidate": self.me, "pre": pre, "last_index": self.writer.durable[0],
                   "last_epoch": self.writer.durable[1]}

        async def ask(no: int) -> bool | None:
            try:
                answer = await self.link.post(no, "/internal/v1/vote", request)
            except SignatureRefused:
                # Running, but not ours to count on: a "no", not silence. Else, of two trackers given different
                # secrets, each would win alone and both would take writes that the other never sees.
                return False
            except NET_ERRORS:
                return None
            return bool(answer.get("granted"))

        answers = await asyncio.gather(*(ask(no) for no in self.others))
        granted = sum(1 for a in answers if a is True)
        refused = sum(1 for a in answers if a is False)
        return election.won_election(self.size, granted, refused)

    def can_elect(self) -> bool:
        """Whether enough trackers answer, this one included, for an election to end with a primary."""
        now = time.monotonic()
        views = self.peers.values()
        return election.can_elect(self.size, sum(1 for p in views if p.alive(now, self.cfg.tracker_timeout)),
                                  sum(1 for p in views if p.rejects_us))

    def live_primary(self) -> int | None:
        """The primary as far as this tracker knows now: itself, or one heard within the tracker timeout. None while
        there is none (/healthz must not keep naming a primary that died)."""
        if self.svc.role == "primary":
            return self.me
        heard = self.primary_heard_at
        if self.primary_no is None or heard is None or time.monotonic() - heard >= self.cfg.tracker_timeout:
            return None
        return self.primary_no

    def _log_no_majority(self) -> None:
        """An operator must see why writes are refused: the primary is silent and too few trackers answer to
        elect another. Once a minute while it lasts, not once a tick."""
        now = time.monotonic()
        if now - self._no_majority_logged < NO_MAJORITY_LOG_S:
            return
        self._no_majority_logged = now
        reachable = 1 + sum(1 for p in self.peers.values() if p.alive(now, self.cfg.tracker_timeout))
        log.warning("tracker %d: no primary answers and only %d of %d trackers are reachable (a majority is %d): "
                    "no new primary can be elected, so writes are refused until more trackers are back", self.me,
                    reachable, self.size, election.majority(self.size))

    def _become_primary_role(self) -> None:
        self.svc.lead_epoch = self.svc.state.epoch
        self.svc.role = "primary"
        self.primary_no, self.primary_since = self.me, time.monotonic()

    def step_down(self, why: str) -> None:
        if self.is_primary:
            log.warning("tracker %d steps down: %s", self.me, why)
        self.svc.role = "secondary"
        if self.primary_no == self.me:
            self.primary_no = None
        self.primary_heard_at = time.monotonic()  # give the new primary a full timeout to show itself

    # ------------------------------------------------------------------------------------------ shipping

    async def ship(self, entries: list[Entry], prev: tuple[int, int]) -> None:
        """The writer's hook: return when the batch may be acknowledged, raise Unavailable if it may not."""
        if not self.is_primary:
            raise Unavailable("this tracker is no longer the primary")
        if self.size == 1:
            return
        # Every other tracker is tried for every batch, even one that failed a moment ago: a failure seen just
        # after this process was paused (SIGSTOP, a stalled VM) is no proof that the peer is down, and acking
        # alone on such evidence could acknowledge a write a newer primary never sees. A killed peer refuses at
        # once; only a hung one costs each batch a full ``tracker_timeout``.
        # With 3 or more a majority protects us anyway, so a tracker that failed within the last timeout is not
        # waited for (it is caught up by the heartbeat loop once it answers again).
        now = time.monotonic()
        targets = self.others if self.size <= 2 else \
            [no for no in self.others if now - self.failed_at.get(no, -1e18) >= self.cfg.tracker_timeout]
        results = await asyncio.gather(*(self._push(no, entries, prev) for no in targets))
        if not self.is_primary or any(r == "deposed" for r in results):
            raise Unavailable("this tracker was deposed while writing; retry on the primary")
        stored = sum(1 for r in results if r == "stored")
        if self.size <= 2 and "refused" in results:
            # Running, but refusing our signature: it stores nothing, yet once we are gone it wins alone, and every
            # write acknowledged here would be lost. So none is until the secret (or the clock) is fixed; from the
            # next ping on, none is even decided (``_hold_writes``): this batch was, and stays in our log unanswered.
            raise Unavailable(WRITES_HELD)
        if not election.may_acknowledge(self.size, stored):
            raise Unavailable("the write could not be stored on a majority of trackers")

    async def _push(self, no: int, entries: list[Entry], prev: tuple[int, int]) -> str:
        async with self._links[no]:
            try:
                answer = await self._append_to(no, entries, prev)
                if not answer["ok"]:
                    await self._catch_up(no, int(answer["last_index"]), int(answer["last_epoch"]), answered=True)
                return "stored"
            except Deposed:
                return "deposed"
            except SignatureRefused:
                return "refused"
            except NET_ERRORS as exc:
                log.info("tracker %d did not store entries: %s", no, exc)
                self.failed_at[no] = time.monotonic()
                return "down"
