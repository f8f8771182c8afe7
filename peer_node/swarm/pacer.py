"""The upload limit: a token bucket that spaces the piece server's sends, and the fair queue that says whose block
goes next (pure; time is passed in).

Theory of operation: the bucket fills at ``rate`` bytes a second up to ``BURST_SECONDS`` worth, and every block
sent takes its length out of it. A block may go while the bucket is not in debt, so a block larger than what the
bucket holds still goes, and the debt it leaves holds the next one back for exactly as long as the link needed
for it: over any stretch longer than the burst, the node uploads at most ``rate`` bytes a second, whatever the
block sizes and however many connections share the bucket. Senders ask ``delay`` before a block, wait that long
(the server wakes them early when the limit changes, so a new limit takes effect at once), and ``spend`` when
they send.
A bucket with no rate never holds anything back.

When several connections wait, the next block is not whoever wakes first (which left a connection asking for a
small block, a tiny file's only piece, behind others sending 2 MiB blocks back to back, for as many rounds as it
kept losing) but the one ``FairQueue`` names: fair queueing by bytes. Each block gets a finish tag, the larger of
the queue's virtual time and its connection's last tag, plus its size; the smallest tag goes first and sets the
virtual time. So connections share the limit by bytes sent, and a small block waits for at most the block the
bucket is paying for now.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Hashable
from typing import Generic, TypeVar

T = TypeVar("T")

BURST_SECONDS = 0.1  # an idle node may send this many seconds' worth of its rate at once


class TokenBucket:
    def __init__(self, rate: int | None, now: float) -> None:
        self._rate: int | None = None
        self._tokens = 0.0
        self._stamp = now
        self.set_rate(rate, now)

    @property
    def rate(self) -> int | None:
        """Bytes a second; None when there is no limit."""
        return self._rate

    def set_rate(self, rate: int | None, now: float) -> None:
        """A new limit from now on: what was sent under the old one stays paid for at the old rate."""
        if rate is not None and rate <= 0:
            raise ValueError("a rate is a positive number of bytes a second (None: no limit)")
        self._refill(now)
        self._rate = rate
        if rate is None:
            self._tokens = 0.0
        else:
            self._tokens = min(self._tokens, rate * BURST_SECONDS)

    def delay(self, now: float) -> float:
        """Seconds until the next block may go (0.0: now)."""
        self._refill(now)
        if self._rate is None or self._tokens >= 0:
            return 0.0
        return -self._tokens / self._rate

    def spend(self, nbytes: int, now: float) -> None:
        """A block of ``nbytes`` goes now."""
        self._refill(now)
        if self._rate is not None:
            self._tokens -= nbytes

    def give_back(self, nbytes: int, now: float) -> None:
        """``nbytes`` spent were never used (a download's request the peer refused): the bucket has them again,
        up to its burst, as if they had not been spent."""
        self._refill(now)
        if self._rate is not None:
            self._tokens = min(self._tokens + nbytes, self._rate * BURST_SECONDS)

    def _refill(self, now: float) -> None:
        elapsed = max(0.0, now - self._stamp)
        self._stamp = max(self._stamp, now)
        if self._rate is not None:
            self._tokens = min(self._tokens + elapsed * self._rate, self._rate * BURST_SECONDS)


class FairQueue(Generic[T]):
    """Blocks waiting on the limit, by connection (``who``): ``pop`` gives the item of the smallest finish tag."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, T]] = []
        self._last: dict[Hashable, float] = {}  # who -> finish tag of its last block queued
        self._virtual = 0.0
        self._order = itertools.count()  # equal tags: first queued, first out

    def __len__(self) -> int:
        return len(self._heap)

    def push(self, who: Hashable, nbytes: int, item: T) -> None:
        tag = max(self._virtual, self._last.get(who, 0.0)) + nbytes
        self._last[who] = tag
        heapq.heappush(self._heap, (tag, next(self._order), item))

    def pop(self) -> T:
        tag, _, item = heapq.heappop(self._heap)
        self._virtual = tag
        if len(self._last) > 2 * len(self._heap) + 64:  # a tag at or behind the virtual time is as good as none
            self._last = {who: t for who, t in self._last.items() if t > self._virtual}
        return item
