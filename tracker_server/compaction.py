"""Compaction of the replicated log: the oldest entries are deleted so that the database stops growing for ever.

Theory of operation (Raft's log truncation after a snapshot, etcd's compaction).
- What the log is still for, once an entry is applied to the tables: (1) answering a retried op_id with its first
  answer (``State.results`` is loaded from the log) and (2) catching up a secondary that was away, entry by entry.
  The state tables already hold everything else (a share's piece hashes are in ``files``), and a secondary whose
  log ends before what is left is sent a snapshot (``replication._catch_up``), which carries the tables.
- So an entry is deleted only when it is outside BOTH windows: it is not among the newest ``log_keep_entries``,
  and it is older than ``log_keep_seconds``. Retries need time: a node retries a write for ``retry_s`` (6 s) of
  rounds of ``timeout_s`` (10 s) each, and keeps an unanswered login's request for ``UNANSWERED_LOGIN_S`` (600 s)
  to send it again (``peer_node/session_commands.py``); nothing of the node reuses an op_id later. An hour keeps
  six times that. Catch-up needs entries: 10,000 (etcd keeps 5,000 for slow followers) cover a secondary
  restarted for an upgrade under any load this tracker sees; past that, a snapshot is the cheaper copy anyway.
- An entry's age is told by marks, not by a column of the log (the log's rows are replicated and snapshotted;
  ages are this tracker's own): every round records "at time t the log reached index i". Entries up to the index
  of the newest mark older than the window are at least that old. Marks live in SQLite, so a restart keeps them;
  a snapshot install clears them (the ages of the entries it brought are unknown here, so they are kept a whole
  window). A wall clock stepped forward deletes early, but never inside the entries window.
- The primary never deletes an entry not yet stored wherever the replication rule wants (``writer.committed``):
  its answer may still be handed to a retry that must wait for it. A secondary may delete entries a new primary
  will not keep: its log then no longer matches, and it is sent a snapshot, as it would be anyway.
- Off the hot path: a background task, every ``compact_every`` seconds. Reads and heartbeats never touch SQLite;
  writes share its one connection, so the work goes in batches of ``BATCH`` entries or ``BATCH_BYTES`` of ops,
  whichever comes first (a delete's time grows with the bytes it frees; one short transaction each, the lock
  handed to a waiting write between batches, FIFO), and freed pages are returned to the file system by incremental
  vacuum in steps of ``RECLAIM_PAGES`` (``store.py`` says why that mode). The WAL those steps fill is
  copied into the database by the round itself, from a connection of its own, outside the store's lock.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

from tracker_server.config import TrackerConfig
from tracker_server.log import LogWriter
from tracker_server.service import TrackerService
from tracker_server.store import Store
from tracker_server.store_health import store_error
from wire.quiet_log import Quota

log = logging.getLogger(__name__)
# Measured (bench/log_compaction.py, 2 cores): 100 entries a transaction take 2-8 ms, 256 pages (1 MiB) returned
# a step 2-11 ms, where 1,024 pages took up to 115 ms. A write waits for one step at most. After each step the round
# checkpoints the WAL itself (``Store.checkpoint``): before, one write in a round now and then paid for copying
# compaction's pages (30-200 ms).
BATCH = 100
BATCH_BYTES = 1 << 20  # and no more than 1 MiB of ops: a batch of big shares (1 MB each) held writes for 0.5 s
RECLAIM_PAGES = 256
FAILURE_LOG_EVERY_S = 300.0


def cut(newest: int, keep_entries: int, marks: list[tuple[float, int]], now: float, keep_seconds: float,
        committed: int) -> int:
    """The index up to which entries may be deleted (0: none). ``marks`` are (time, log index then)."""
    aged = max((index for at, index in marks if at <= now - keep_seconds), default=0)
    return max(0, min(newest - keep_entries, aged, committed))


def marks_to_drop(marks: list[tuple[float, int]], now: float, keep_seconds: float) -> float:
    """Marks older than this time say nothing the newest aged mark does not: every one but it is dropped."""
    aged = [at for at, _ in marks if at <= now - keep_seconds]
    return max(aged, default=-1.0)


@dataclass
class RoundResult:
    deleted: int = 0
    compacted_to: int = 0
    reclaimed_pages: int = 0


class Compactor:
    def __init__(self, config: TrackerConfig, store: Store, service: TrackerService, writer: LogWriter) -> None:
        self.cfg, self.store, self.svc, self.writer = config, store, service, writer
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()  # one round at a time (the loop's, or a test's)
        self._failures = Quota(FAILURE_LOG_EVERY_S)  # the failed rounds said in the log
        self._failing = False

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="log-compaction")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _loop(self) -> None:
        while True:
            try:
                await self.run_once()
            except Exception as exc:  # the boundary: a failed round (a full disk) must not end compaction for good
                self.round_failed(exc, time.monotonic())
            else:
                self.round_done()
            await asyncio.sleep(self.cfg.compact_every)

    def round_failed(self, exc: BaseException, now: float) -> None:
        """Say a failed round in one line, at most once every ``FAILURE_LOG_EVERY_S`` while the failures last: a full
        disk fails every round, and a traceback a minute said nothing the first line had not."""
        self._failing = True
        dropped = self._failures.take(now)
        if dropped is None:
            return
        again = f"; {dropped} more rounds failed since it was last said" if dropped else ""
        log.error("log compaction round failed: %s: the log grows until a round succeeds (said again every %.0f "
                  "minutes while it lasts%s)", store_error(exc), FAILURE_LOG_EVERY_S / 60, again)

    def round_done(self) -> None:
        if self._failing:
            log.warning("log compaction rounds succeed again")
            self._failing, self._failures = False, Quota(FAILURE_LOG_EVERY_S)  # the next failure is news: said at once

    async def run_once(self) -> RoundResult:
        async with self._lock:
            return await self._round()

    async def _round(self) -> RoundResult:
        now = self.cfg.clock()
        installs = self.store.installs  # read first: a snapshot installed from here on stops this round
        newest = await self.store.newest_index()  # not the writer's: during an install, it is the old log's
        marks = await self.store.marks()
        if not marks or marks[-1][1] != newest:
            await self.store.add_mark(now, newest, installs)
            marks.append((now, newest))
        # A secondary's entries are all stored wherever they need be as far as it can know (module docstring).
        committed = self.writer.committed if self.svc.role == "primary" else newest
        upto = cut(newest, self.cfg.log_keep_entries, marks, now, self.cfg.log_keep_seconds, committed)
        result = RoundResult()
        started = time.monotonic()
        while True:
            state = self.svc.state
            op_ids = await self.store.compact(upto, BATCH, BATCH_BYTES, installs)
            if not op_ids:
                break
            result.deleted += len(op_ids)
            if self.svc.state is state:  # else replaced by a reload from SQLite, which no longer has them
                for op_id in op_ids:
                    state.results.pop(op_id, None)
            await self.store.checkpoint()  # meanwhile a waiting write goes first (the lock is FIFO)
        result.compacted_to = (await self.store.compaction_point())[0]
        await self.store.drop_marks(before=marks_to_drop(marks, now, self.cfg.log_keep_seconds))
        free = await self.store.free_pages()
        while free > 0:
            await self.store.reclaim(min(RECLAIM_PAGES, free))
            left = await self.store.free_pages()
            if left >= free:  # auto_vacuum is off (its conversion failed, store.py): pages are reused, not returned
                break
            result.reclaimed_pages += free - left
            free = left
            await self.store.checkpoint()
        if result.deleted:
            log.info("compacted the log up to index %d: %d entries deleted, %d pages returned, in %.2f s",
                     result.compacted_to, result.deleted, result.reclaimed_pages, time.monotonic() - started)
        return result
