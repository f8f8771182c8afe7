"""Asking the tracker who holds the file, for one download: when, and what the answer changes (see ``engine``).

Theory of operation: ``refresh`` calls the node's swarm source (the tracker's file detail) and merges the holders
it lists into the ``Roster``; it also keeps the access token the answer carries. The engine refreshes at start,
then every ``refresh_interval`` (every ``busy_refresh_interval`` while a crowd is downloading, in the first
seconds, or with no link at all: ``due``). A whole-file seeder spreading a crowd refuses us a piece it gave
another downloader (``crowd``); when none of our links holds that piece, that downloader is new to us and the
periodic lookup may be a second away, so ``soon`` looks again at once, or as soon as ``refusal_refresh_gap``
has passed since the last lookup: one lookup for every refusal meanwhile. Without it a downloader that started
just before another stalled on the refused pieces until its next periodic lookup. A refusal-driven lookup that
lists nobody new doubles that gap (up to ``busy_refresh_interval``), so a holder we cannot reach does not turn
every refusal into a tracker request; one that finds somebody resets it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from peer_node.swarm.config import EngineConfig, SwarmSnapshot
from peer_node.swarm.roster import Roster
from wire.errors import GroupShareError, NotFound

log = logging.getLogger(__name__)

Spawn = Callable[[Coroutine[Any, Any, None]], None]


class HolderLookup:
    def __init__(self, source: Callable[[], Awaitable[SwarmSnapshot]], roster: Roster, config: EngineConfig,
                 file_name: str) -> None:
        self.source, self.roster, self.config, self.file_name = source, roster, config, file_name
        self.token = ""  # the access token of the latest answer: what a new link presents
        self.swarming = False  # the latest answer listed partial holders: a crowd is downloading
        self.last = 0.0  # monotonic time of the latest lookup (started)
        self.running = False
        self._pending = False  # ``soon`` has a lookup on its way
        self.gap = config.refusal_refresh_gap  # between refusal-driven lookups: grows while they find nobody
        self.unlisted = False  # the latest answer: the group lists the file no more (every sharer stopped or left)

    def due(self, now: float, busy: bool) -> bool:
        cfg = self.config
        interval = min(cfg.busy_refresh_interval, cfg.refresh_interval) if busy else cfg.refresh_interval
        return not self.running and now - self.last >= interval

    async def refresh(self) -> None:
        self.last, self.running = time.monotonic(), True
        try:
            async with asyncio.timeout(max(5.0, self.config.connect_timeout)):
                snapshot = await self.source()
        except (GroupShareError, TimeoutError, OSError) as exc:
            log.info("seeder refresh for %s failed: %s", self.file_name, str(exc) or "no answer in time")
            self.unlisted = isinstance(exc, NotFound)
            return
        finally:
            self.running = False
        self.unlisted = False
        self.token = snapshot.token
        self.swarming = any(info.pieces is not None for info in snapshot.seeders)
        self.roster.merge(snapshot.seeders)

    def soon(self, spawn: Spawn, then: Callable[[], None]) -> None:
        """Refresh now or once ``gap`` has passed since the last lookup, then call ``then``."""
        if self._pending:
            return
        self._pending = True

        async def refresh_later() -> None:
            await asyncio.sleep(max(0.0, self.last + self.gap - time.monotonic()))
            self._pending = False
            if not self.running:
                known = len(self.roster.peers)
                await self.refresh()
                cfg = self.config
                found = len(self.roster.peers) > known
                self.gap = cfg.refusal_refresh_gap if found else min(2 * self.gap, cfg.busy_refresh_interval)
                then()

        spawn(refresh_later())
