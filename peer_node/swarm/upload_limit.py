"""The piece server's upload limit at work: senders wait their turn (``pacer.FairQueue``) and the bucket's time
(``pacer.TokenBucket``), one block at a time, and a new limit wakes the wait at once.

With no limit and nobody waiting a sender goes at once, so an unlimited node pays a bucket update per block and
nothing else. Otherwise each sender queues its block and awaits its turn; one dispatcher task hands the turns out
as the bucket allows. A sender cancelled while it waits (its connection closed) is skipped.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Hashable

from peer_node.loop_task import wait_event
from peer_node.swarm.pacer import FairQueue, TokenBucket


class UploadLimit:
    def __init__(self, rate: int | None) -> None:
        self._bucket = TokenBucket(rate, time.monotonic())
        self._queue: FairQueue[tuple[asyncio.Future[None], int]] = FairQueue()
        self._changed = asyncio.Event()  # set (and replaced) when the limit changes: the dispatcher looks again
        self._dispatcher: asyncio.Task[None] | None = None

    @property
    def rate(self) -> int | None:
        """Bytes a second; None when there is no limit."""
        return self._bucket.rate

    def set_rate(self, rate: int | None) -> None:
        self._bucket.set_rate(rate, time.monotonic())
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    async def pace(self, nbytes: int, who: Hashable) -> None:
        """Wait until it is ``who``'s turn and the limit lets a block of ``nbytes`` go, and count it as gone."""
        if self._bucket.rate is None and not self._queue:
            self._bucket.spend(nbytes, time.monotonic())
            return
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.push(who, nbytes, (turn, nbytes))
        if self._dispatcher is None or self._dispatcher.done():
            self._dispatcher = asyncio.create_task(self._dispatch())
        await turn

    async def _dispatch(self) -> None:
        while self._queue:
            delay = self._bucket.delay(time.monotonic())
            if delay > 0:
                await wait_event(self._changed, delay)
                continue
            turn, nbytes = self._queue.pop()
            if turn.done():  # its sender was cancelled meanwhile
                continue
            self._bucket.spend(nbytes, time.monotonic())
            turn.set_result(None)

    async def close(self) -> None:
        if self._dispatcher is not None:
            self._dispatcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._dispatcher
            self._dispatcher = None
