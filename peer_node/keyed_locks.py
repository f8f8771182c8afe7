"""One asyncio lock per key, made on first use and dropped when nobody holds or waits for it.

Why: a command that checks a record, waits (on the tracker, the disk, a hash) and then acts must not interleave
with another command on the same record: ``upload_file`` and ``stop_share`` of one file at once left the tracker
sharing what the node had forgotten; two ``remove_download`` of one download both answered that they removed it.
A lock per record key serialises exactly those, and commands on other records never wait.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Hashable


class KeyedLocks:
    def __init__(self) -> None:
        self._locks: dict[Hashable, tuple[asyncio.Lock, int]] = {}  # key -> (lock, holders and waiters)

    @contextlib.asynccontextmanager
    async def hold(self, key: Hashable) -> AsyncIterator[None]:
        lock, users = self._locks.get(key, (asyncio.Lock(), 0))
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[key]
            if users == 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)

    def busy(self, key: Hashable) -> bool:
        """Whether someone holds or waits for ``key`` now."""
        return key in self._locks

    def __len__(self) -> int:
        """How many keys have a holder or a waiter (a test's check that nothing is left behind)."""
        return len(self._locks)
