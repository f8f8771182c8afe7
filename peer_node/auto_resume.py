"""Failed downloads that only lacked a seeder start again by themselves once one is back.

A download fails with "no seeder reachable" when every member who has the file is offline (a laptop closed, a
node restarted). Its verified pieces stay on disk, and until now only Retry (or ``download_file`` again) went on
from them. A mature client just waits for peers; here the line stays ``[F]`` (scripts that wait for ``[C]`` or
``[F]`` still see the failure and its reason) but the node keeps asking the tracker, and starts the download
again from its pieces as soon as a live seeder is listed. It asks after 5 s (``--resume-check``), then half as
often each time (down to once a minute), so a file nobody will serve again costs the tracker one request a
minute. A file no longer on the group's list is watched too: a member may share it again (the same content: a
new file under the name ends the watch). A download removed, retried by hand, or refused for good (access ended,
the destination is taken) is no longer watched.

``Backoff`` is the pure schedule; ``AutoResume`` is the loop, run while a user is logged in.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from peer_node.loop_task import LoopTask
from peer_node.views import DownloadState
from wire.errors import GroupShareError, NotFound, NotLoggedIn, Unavailable

if TYPE_CHECKING:
    from peer_node.downloads import DownloadManager
    from peer_node.state import DownloadRecord

log = logging.getLogger(__name__)

FIRST_S = 5.0
MAX_S = 60.0
TICK_S = 1.0
RESUMES_NOTE = "resumes by itself when a member who has it is back"


@dataclass
class Backoff:
    """When to ask the tracker next about one failed download: after ``FIRST_S``, then twice as long each time."""

    due_at: float
    delay: float

    @classmethod
    def starting(cls, now: float, first: float = FIRST_S) -> Backoff:
        return cls(due_at=now + first, delay=first)

    def due(self, now: float) -> bool:
        return now >= self.due_at

    def asked(self, now: float) -> None:
        self.delay = max(self.delay, min(self.delay * 2, MAX_S))
        self.due_at = now + self.delay


def watched(rec: DownloadRecord, user_id: str) -> bool:
    return rec.user_id == user_id and rec.state == DownloadState.FAILED.value and rec.resume_when_seeded


class AutoResume:
    def __init__(self, manager: DownloadManager, first_s: float = FIRST_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.manager = manager
        self.first_s = first_s
        self.clock = clock
        self._backoff: dict[tuple[str, str, str], Backoff] = {}
        self._loop_task = LoopTask("auto-resume")

    def start(self, user_id: str) -> None:
        self._loop_task.start(lambda: self._loop(user_id))

    async def stop(self) -> None:
        await self._loop_task.stop()

    async def _loop(self, user_id: str) -> None:
        while True:
            await asyncio.sleep(TICK_S)
            try:
                await self.check(user_id)
            except Exception:  # the boundary: one odd round must not end the watching for good
                log.exception("checking failed downloads for a seeder failed")

    async def check(self, user_id: str) -> None:
        """One round: ask about each watched download that is due, and start again those that have a seeder."""
        now = self.clock()
        recs = [r for r in self.manager.state.downloads.values() if watched(r, user_id)]
        keys = {r.key for r in recs}
        for key in [k for k in self._backoff if k not in keys]:
            del self._backoff[key]
        for rec in recs:
            backoff = self._backoff.setdefault(rec.key, Backoff.starting(now, self.first_s))
            if rec.key in self.manager.running_keys() or not backoff.due(now):
                continue
            backoff.asked(now)
            await self._try(rec)

    async def _try(self, rec: DownloadRecord) -> None:
        try:
            meta, swarm = await self.manager.fetch_swarm(rec.group_id, rec.file_name)
        except (Unavailable, NotLoggedIn, NotFound):
            # No tracker now, the session is ending, or nobody shares the file at the moment (a member may share
            # it again): ask again later (or after the next login).
            return
        except GroupShareError as exc:  # access ended (no longer a member): nothing to wait for
            await self.manager.stop_watching(rec, exc.message)
            return
        if rec.meta is not None and meta.sha256 != rec.meta.sha256:  # another file now has the name
            await self.manager.stop_watching(rec, f"the group's {rec.file_name} is another file now (its content "
                                                  "changed): download it again to get the new one")
            return
        if not swarm.seeders:
            return
        log.warning("a member has %s of %s again: resuming its download", rec.file_name, rec.group_id)
        try:
            # Only if it still waits as it did before the question (removed or retried meanwhile: left alone).
            await self.manager.start(rec.user_id, rec.group_id, rec.file_name, rec.destination, resuming=rec)
        except (Unavailable, NotLoggedIn):
            return
        except GroupShareError as exc:  # the destination is taken now, or the like: the user must decide
            await self.manager.stop_watching(rec, exc.message)
