"""How the primary brings a secondary level with its log: a copy of the entries it lacks, else a whole snapshot.

A mixin of ``Replicator`` (``replication.py``: the theory of operation of replication and failover, and the
plumbing these use), split out so each module is about one thing. ``_push`` (a batch refused) and ``_sync`` (the
heartbeat's look at a lagging secondary) call ``_catch_up``; everything sent goes through ``_append_to`` and
``_send_snapshot``, one at a time per secondary (``_links``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from typing import TYPE_CHECKING, Any

import aiohttp

from tracker_server.cluster_link import ClusterLink, NoSuchRoute
from tracker_server.config import TrackerConfig
from tracker_server.election import PeerView
from tracker_server.log import LogWriter
from tracker_server.service import TrackerService
from tracker_server.snapshot_pace import SnapshotPace, SnapshotPaced
from tracker_server.state import Entry
from tracker_server.store import Store

log = logging.getLogger(__name__)
CATCH_UP_BATCH = 500
SNAPSHOT_WHOLE, SNAPSHOT_PART = "/internal/v1/snapshot", "/internal/v1/snapshot_part"
# A peer that cannot be reached, or answers something we cannot read (KeyError, TypeError), is treated alike; so is
# one whose last snapshot failed a moment ago (``snapshot_pace.py``).
NET_ERRORS = (aiohttp.ClientError, TimeoutError, OSError, ValueError, KeyError, TypeError, SnapshotPaced)


class Deposed(Exception):
    """Another tracker holds a higher epoch: this one is no longer primary."""


class CatchUp:
    cfg: TrackerConfig
    store: Store
    svc: TrackerService
    writer: LogWriter
    link: ClusterLink
    me: int
    peers: dict[int, PeerView]
    _links: dict[int, asyncio.Lock]
    snapshot_pace: SnapshotPace

    if TYPE_CHECKING:  # provided by Replicator
        @property
        def is_primary(self) -> bool: ...
        async def adopt_epoch(self, epoch: int) -> None: ...

    async def _append_to(self, no: int, entries: list[Entry], prev: tuple[int, int],
                         head: int | None = None) -> dict[str, Any]:
        """``head``, for a catch-up, tells the secondary where our log ends (for its operator's log)."""
        leading = self._leading()
        body: dict[str, Any] = {"epoch": leading, "from": self.me, "prev_index": prev[0],
                                "prev_epoch": prev[1], "entries": [e.to_json() for e in entries]}
        if head is not None:
            body["head"] = head
        answer = await self.link.post(no, "/internal/v1/append", body)
        if int(answer["epoch"]) > leading:
            await self.adopt_epoch(int(answer["epoch"]))
            raise Deposed()
        return answer

    def _leading(self) -> int:
        """The epoch a leader's message is sent under: the one this tracker leads, looked at as it is sent. A
        catch-up outlives the look at its start, and a primary that hears of a newer epoch meanwhile (a ping after
        a pause) steps down and makes that epoch its own: sent under it, a snapshot of ours would be taken by the
        new primary's secondaries as the new primary's, and replace the writes they had committed with it."""
        if not self.is_primary or self.svc.lead_epoch != self.svc.state.epoch:
            raise Deposed()
        return self.svc.lead_epoch

    async def _sync(self, no: int) -> None:
        """Heartbeat-driven catch-up of a lagging secondary (skipped if a push to it is under way)."""
        if self._links[no].locked() or not self.is_primary:
            return
        async with self._links[no]:
            view = self.peers[no]
            try:
                await self._catch_up(no, view.last_index, view.last_epoch)
            except (Deposed, *NET_ERRORS) as exc:
                log.info("catching up tracker %d failed: %r", no, exc)

    async def _catch_up(self, no: int, last_index: int, last_epoch: int, answered: bool = False) -> None:
        """Bring tracker ``no`` (whose newest entry is ``(last_index, last_epoch)``) level with our log.

        The position we start from may be stale (a ping's, overtaken by a push since): a refused batch answers
        the secondary's true position, and the copy goes on from there if our log holds it. Only a position our
        log does not hold (a history we do not share, or one compacted away: ``position_at``) as the secondary
        ``answered`` it, or a second refusal in a row, calls for a snapshot: a ping answered during a snapshot's
        install names the log it replaced, and would have a second snapshot sent to a tracker the first brought
        level. So a ping's position is checked first by an append of nothing, answered with where its log ends."""
        index, epoch, refused = last_index, last_epoch, 0
        while True:
            if await self.store.position_at(index) != epoch or refused > 1:
                if not answered:
                    answer = await self._append_to(no, [], (index, epoch))
                    index, epoch, answered = int(answer["last_index"]), int(answer["last_epoch"]), True
                    continue
                await self._send_snapshot(no)
                return
            batch = await self.store.entries_after(index, CATCH_UP_BATCH)
            if batch and batch[0].index != index + 1:  # compacted since the look above: look again
                continue
            if not batch:
                return
            # The end of our log as this copy sees it: the batch's end if the log ended there when read.
            head = batch[-1].index if len(batch) < CATCH_UP_BATCH else max(batch[-1].index, self.writer.durable[0])
            answer = await self._append_to(no, batch, (index, epoch), head)
            answered = True
            if answer["ok"]:
                index, epoch, refused = batch[-1].index, batch[-1].epoch, 0
            else:
                index, epoch, refused = int(answer["last_index"]), int(answer["last_epoch"]), refused + 1

    async def _send_snapshot(self, no: int) -> None:
        """A snapshot in one message if it fits one part (as before: a secondary of the previous release takes it),
        else in parts (``snapshot_read.py``: a state of any size), each of them to the part route, the last of
        which has the secondary install them all at once. Any failure ends the transfer, and the next one starts
        again from its first part (after the pace's wait): the secondary keeps its old state until the last part."""
        if (left := self.snapshot_pace.left(no, time.monotonic())) > 0:
            raise SnapshotPaced(f"its last snapshot failed: the next one in {left:.0f} s")
        # The epoch is fixed before the dump and looked at again before each part (seconds may pass, and a ping with
        # them): the parts go under the epoch this tracker led when they were read, never one it adopted meanwhile.
        leading = self._leading()
        transfer = secrets.token_hex(8)

        def envelope(part: int) -> bytes:
            return b'{"epoch":%d,"from":%d,"transfer":"%s","part":%d,"snapshot":' % (
                leading, self.me, transfer.encode("ascii"), part)

        sent, path = 0, SNAPSHOT_WHOLE
        try:
            async with contextlib.aclosing(self.store.snapshot_parts(envelope, _envelope_end)) as parts:
                async for body, last in parts:  # read and encoded in a worker thread: the loop keeps serving
                    if self._leading() != leading:
                        raise Deposed()
                    path = SNAPSHOT_WHOLE if sent == 0 and last else SNAPSHOT_PART
                    if sent == 0:
                        log.warning("sending a snapshot to tracker %d (%.0f MB%s)", no, len(body) / 1e6,
                                    "" if last else " in its first part")
                    answer = await self.link.post_raw(no, path, body, limit_s=max(4 * self.cfg.tracker_timeout, 10.0))
                    sent += len(body)
                    if int(answer["epoch"]) > leading:
                        await self.adopt_epoch(int(answer["epoch"]))
                        raise Deposed()
                    if path == SNAPSHOT_PART and not answer["ok"]:
                        raise ValueError(f"tracker {no} refused a part of a snapshot (another transfer began?)")
        except Deposed:
            raise
        except Exception as exc:
            self.snapshot_pace.failed(no, time.monotonic())
            if isinstance(exc, NoSuchRoute) and path == SNAPSHOT_PART:
                # Said once a failure, so at the pace's rate (up to 64 tracker timeouts apart), not every tick.
                log.warning("tracker %d cannot take a snapshot in parts: it has no %s route (a tracker of an earlier "
                            "release?). It stays behind until it is upgraded", no, SNAPSHOT_PART)
            raise
        self.snapshot_pace.taken(no)
        if path == SNAPSHOT_PART:
            log.warning("sent a snapshot to tracker %d in parts (%.0f MB)", no, sent / 1e6)


def _envelope_end(last: bool) -> bytes:
    return b',"last":true}' if last else b',"last":false}'
