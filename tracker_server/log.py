"""Group commit of log entries: many entries, one SQLite transaction, one round of shipping to other trackers.

Theory of operation: the service decides an op and applies it to memory at once (synchronously, so concurrent
requests are serialised by the event loop), then ``submit``s the entry and awaits its future. One writer task
takes everything queued, appends it to the store in one transaction, hands the batch to ``ship`` (replication;
a no-op for a lone tracker) and resolves the futures: a client is answered only once its entry is durable
wherever the replication rule says. If the store or shipping fails, every waiting future fails with
``Unavailable`` and ``on_failure`` runs (the service reloads its state from SQLite and, in a cluster, steps down);
so do the entries queued meanwhile, decided on the memory the reload throws away. Retried with their op_ids, they
are decided again on the state reloaded. The writer only ever writes entries that follow the log's newest one.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Awaitable, Callable

from tracker_server.state import Entry
from wire.errors import GroupShareError, Unavailable

log = logging.getLogger(__name__)

Ship = Callable[[list[Entry], tuple[int, int]], Awaitable[None]]  # (entries, (prev_index, prev_epoch))


class LogGap(Exception):
    """Entries about to be written do not follow the log's newest one."""


class LogWriter:
    def __init__(self, append: Callable[[list[Entry]], Awaitable[None]], durable: tuple[int, int],
                 ship: Ship | None = None, on_failure: Callable[[Exception], Awaitable[None]] | None = None) -> None:
        self._append = append
        self.durable = durable  # (index, epoch) of the newest entry in SQLite
        self.committed = 0  # index of the newest entry known stored wherever the replication rule wants
        self.ship = ship
        self.on_failure = on_failure
        self._queue: list[tuple[Entry, asyncio.Future[None]]] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._idle = asyncio.Event()
        self._idle.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="log-writer")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        for _, fut in self._queue:
            if not fut.done():
                fut.set_exception(Unavailable("tracker is shutting down"))
        self._queue.clear()

    @staticmethod
    def _fail(batch: list[tuple[Entry, asyncio.Future[None]]], why: str) -> None:
        for _, fut in batch:
            if not fut.done():
                fut.set_exception(Unavailable(f"write not committed: {why}"))

    def submit(self, entry: Entry) -> asyncio.Future[None]:
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.append((entry, fut))
        self._idle.clear()
        self._wake.set()
        return fut

    async def drained(self) -> None:
        """Wait until nothing is queued or being written."""
        await self._idle.wait()

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            batch, self._queue = self._queue, []
            if not batch:
                self._idle.set()
                continue
            entries = [entry for entry, _ in batch]
            prev = self.durable
            try:
                if [e.index for e in entries] != list(range(prev[0] + 1, prev[0] + 1 + len(entries))):
                    # A bug, never weather: SQLite would refuse a repeated index, and a gap would break every
                    # tracker's copy of the log. Failed as a write that did not store, memory reloaded with it.
                    raise LogGap(f"log entries {entries[0].index}..{entries[-1].index} do not follow {prev[0]}")
                await self._append(entries)
                self.durable = (entries[-1].index, entries[-1].epoch)
                if self.ship is not None:
                    await self.ship(entries, prev)
                self.committed = entries[-1].index
            except Exception as exc:  # the boundary: the writer must survive anything, or every write would hang
                expected = isinstance(exc, (GroupShareError, OSError, ValueError, RuntimeError, sqlite3.Error))
                log.log(logging.WARNING if expected else logging.ERROR, "log write of %d entries failed: %s",
                        len(entries), exc, exc_info=not expected)
                if self.on_failure is not None:
                    try:  # first: a client told to retry finds the state reloaded, not the memory thrown away
                        await self.on_failure(exc)
                    except Exception:  # the reload failed too: say so, and keep writing (or failing) what comes
                        log.exception("reloading the state after a failed log write failed")
                self._fail(batch, str(exc))
                if self.on_failure is not None:
                    # Everything queued meanwhile was decided on the memory the reload just threw away (its indexes
                    # run past the log's, its effects are gone): fail it, and its clients retry on the state now.
                    self._fail(self._queue, "the tracker's state was reloaded after a failed write; retry")
                    self._queue = []
            else:
                for _, fut in batch:
                    if not fut.done():
                        fut.set_result(None)
            if not self._queue:
                self._idle.set()
