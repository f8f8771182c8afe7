"""The node's heartbeat: tells the serving tracker, every ``heartbeat_interval``, which files it holds.

Theory of operation: liveness and holdings are soft state in the tracker's memory, rebuilt from heartbeats (after
a failover the new primary learns them within one interval). Each beat carries every served share as ``"all"``
and every running download as its verified-pieces bitfield, so other downloaders find this node as a partial
source. ``wake()`` sends a beat at once (a new share, a finished download) instead of waiting. A failed beat is
retried sooner; a 401 means the tracker ended our session, and the node logs out locally.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from peer_node.loop_task import LoopTask, wait_event
from wire.errors import GroupShareError, NotLoggedIn
from wire.records import ALL_PIECES, encode_bitfield

if TYPE_CHECKING:
    from peer_node.service import NodeService

log = logging.getLogger(__name__)

MIN_INTERVAL_S = 0.5
RETRY_S = 1.0


class Heartbeat:
    def __init__(self, service: NodeService) -> None:
        self.service = service
        self.interval = 5.0
        self._loop_task = LoopTask("heartbeat")
        self._wake = asyncio.Event()
        self.beats = 0  # successful beats, for tests and the status page
        self._side_tasks: set[asyncio.Task[Any]] = set()  # strong references: the loop keeps only weak ones

    def start(self, interval: float) -> None:
        self.interval = max(MIN_INTERVAL_S, interval)
        if self._loop_task.start(self._loop):
            self._wake.set()  # the first beat goes out at once

    def wake(self) -> None:
        self._wake.set()

    async def stop(self) -> None:
        await self._loop_task.stop()

    def holdings(self, user_id: str) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for group_id, sha in self.service.shares_keeper.served(user_id):
            out.append({"group_id": group_id, "file_sha256": sha, "pieces": ALL_PIECES})
        for group_id, sha, bits in self.service.downloads_mgr.holdings(user_id):
            out.append({"group_id": group_id, "file_sha256": sha, "pieces": encode_bitfield(bits)})
        return out

    async def beat(self) -> None:
        session = self.service.state.session
        if session is None:
            return
        doc = await self.service.tracker.call("POST", "/heartbeat", {"holdings": self.holdings(session.user_id)})
        interval = doc.get("heartbeat_interval")
        if isinstance(interval, int | float) and interval > 0:
            self.interval = max(MIN_INTERVAL_S, float(interval))
        self.beats += 1

    async def _loop(self) -> None:
        delay = 0.0
        failing = ""  # the cause of the heartbeats failing now, "" while they go through
        while True:
            await wait_event(self._wake, delay)
            self._wake.clear()
            session = self.service.state.session
            if session is None:
                return
            try:
                await self.beat()
                delay = self.interval
                if failing:
                    log.info("heartbeat: a tracker answers again")
                failing = ""
            except NotLoggedIn:
                # session_ended stops this task: run it apart so it does not cancel itself mid-way
                task = asyncio.create_task(self.service.session_ended(session), name="session ended")
                self._side_tasks.add(task)
                task.add_done_callback(self._side_tasks.discard)
                return
            except GroupShareError as exc:
                # Said once per cause, not at every retry: a node run as a service with its trackers down wrote
                # a line a second (and one per tracker for each try) for as long as they were down.
                if exc.message != failing:
                    log.info("heartbeat failed: %s (said again only if the cause changes)", exc.message)
                failing = exc.message
                delay = min(RETRY_S, self.interval)
