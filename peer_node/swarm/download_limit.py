"""The node's download limit: every download of the node asks for pieces no faster than one shared token bucket
allows, so its peers send no faster. The limit works on the request side only: a requested piece still comes at
the peer's full speed, and nothing is left unread in a socket.

Theory of operation: the bucket (``pacer.TokenBucket``, the upload limit's arithmetic) fills at ``rate`` bytes a
second. Before it requests a piece an engine asks ``ready`` (is the bucket out of debt?), and once the request is
out it ``spend``s the piece's length; a piece larger than what the bucket holds still goes, and the debt it leaves
holds the next request back for as long as the line needs for it. So over any stretch longer than a piece's time
at the rate, the node downloads at most ``rate`` bytes a second, however many downloads and peers share it.

An engine held back does not poll: it leaves a ``wake`` callback with ``wait`` and stops asking. One timer, for
the whole node, fires when the debt is paid and calls the waiting engines in the order they came; the first one
takes the budget (and leaves a new debt), the others find the bucket in debt again and queue up behind it, so the
engines take turns. A new limit wakes them at once. A piece asked for and refused by the peer (a seeder spreading a
crowd) never came, nor did the rest of a piece whose link was lost: ``refund`` gives their bytes back, so the piece
asked for again elsewhere is not paid for twice. Only a piece that was charged is refunded (``PieceJob.charged``):
one asked for while there was no limit never spent the budget of a limit set since.

What a limit does to pipelining: requests go out only as the budget allows, so a slow budget keeps few pieces in
flight by itself (``RequestGate.cap_depth`` also caps a link's depth at what the limit fills in a round trip and
``latency_target``: ``peer_link.depth_for``, the rule a link's own speed follows); nothing waits at the peer for
seconds, and a link is never closed as stalled for the limit's sake. While an engine waits on the budget it is not
short of peers either: ``engine`` does not count that time towards its no-peer timeout. With no limit the engine
does none of this: one boolean per refill, nothing per block.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Protocol

from peer_node.swarm.pacer import TokenBucket
from peer_node.swarm.peer_link import PeerLink, PieceJob, depth_for

log = logging.getLogger(__name__)

Wake = Callable[[], None]
# A debt this small (seconds) counts as paid: the timer set for the moment the debt is paid may find a hair of it
# left by float rounding, and a wake a hair later again, without end.
PAID_S = 1e-6


class Timer(Protocol):
    def cancel(self) -> None: ...


Scheduler = Callable[[float, Wake], Timer]  # loop.call_later's shape: seconds, callback -> a handle to cancel


def _call_later(delay: float, callback: Wake) -> Timer:
    return asyncio.get_running_loop().call_later(delay, callback)


class DownloadLimit:
    """The node's download limit (None: no limit), shared by all its engines. ``clock`` and ``call_later`` are
    injected in tests; by default monotonic time and the running loop's timers."""

    def __init__(self, rate: int | None = None, *, clock: Callable[[], float] = time.monotonic,
                 call_later: Scheduler = _call_later) -> None:
        self._clock, self._call_later = clock, call_later
        self._bucket = TokenBucket(rate, clock())
        self._waiting: dict[Wake, None] = {}  # in the order they came (a dict keeps it, and each once)
        self._timer: Timer | None = None

    @property
    def rate(self) -> int | None:
        """Bytes a second; None when there is no limit."""
        return self._bucket.rate

    def set_rate(self, rate: int | None) -> None:
        """A new limit, at once: every engine waiting on the old one looks again now."""
        self._bucket.set_rate(rate, self._clock())
        if self._waiting:
            self._arm(0.0)

    def ready(self) -> bool:
        """Whether a piece may be requested now (the bucket is out of debt; always, with no limit)."""
        return self._bucket.delay(self._clock()) <= PAID_S

    def spend(self, nbytes: int) -> None:
        """A piece of ``nbytes`` was requested."""
        self._bucket.spend(nbytes, self._clock())

    def refund(self, nbytes: int) -> None:
        """A requested piece that will not come (refused): its bytes are budget again, up to a burst's worth."""
        self._bucket.give_back(nbytes, self._clock())

    def wait(self, wake: Wake) -> None:
        """Call ``wake`` once the budget allows a request (or the limit changes). Asking again while waiting keeps
        the place in the queue."""
        self._waiting.setdefault(wake, None)
        if self._timer is None:
            self._arm(self._bucket.delay(self._clock()))

    def forget(self, wake: Wake) -> None:
        """``wake``'s engine has ended: it is not called any more."""
        self._waiting.pop(wake, None)
        if not self._waiting and self._timer is not None:
            self._timer.cancel()
            self._timer = None

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    def close(self) -> None:
        self._waiting.clear()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _arm(self, delay: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = self._call_later(max(0.0, delay), self._wake)

    def _wake(self) -> None:
        self._timer = None
        waiting, self._waiting = list(self._waiting), {}
        for index, wake in enumerate(waiting):
            if not self.ready():  # taken: the rest keep their places, ahead of new ones
                self._waiting = dict.fromkeys([*waiting[index:], *self._waiting])
                break
            try:
                wake()
            except Exception:  # one engine's bug must not starve the others
                log.exception("a download waiting on the download limit failed to go on")
        if self._waiting and self._timer is None:
            self._arm(self._bucket.delay(self._clock()))


class RequestGate:
    """One download engine's side of the node's limit: whether it may request now, and whether it is held back
    (``held``: waiting for the budget, which the engine's no-peer timeout must not count as having no peer)."""

    def __init__(self, limit: DownloadLimit | None, refill: Wake) -> None:
        self._limit, self._refill = limit, refill
        self.held = False

    @property
    def limited(self) -> bool:
        return self._limit is not None and self._limit.rate is not None

    def allows(self) -> bool:
        """Whether a piece may be requested now; when not, the engine is called (``refill``) once it may."""
        assert self._limit is not None
        if self._limit.ready():
            return True
        self.held = True
        self._limit.wait(self._woken)
        return False

    def charge(self, job: PieceJob) -> None:
        """``job`` was asked for under the limit: its length is spent, and it is marked so (``give_back``)."""
        if self._limit is not None:
            self._limit.spend(job.length)
            job.charged = True

    def give_back(self, job: PieceJob) -> None:
        """What of ``job`` will not come (the peer refused it, or its link was lost: it is asked for again
        elsewhere), back to the budget; nothing for a piece asked for while there was no limit."""
        if job.charged and self.limited:
            assert self._limit is not None
            self._limit.refund(job.length - job.received)

    def cap_depth(self, link: PeerLink, latency_target: float, piece_size: int) -> None:
        """Under a limit, keep no more of ``link``'s pieces in flight than the limit fills in its round trip plus
        ``latency_target`` (the rule a link's own speed follows), so a slow budget means a shallow pipe rather than
        requests waiting at the peer."""
        rate = self._limit.rate if self._limit is not None else None
        if rate is not None:
            link.depth = min(link.depth, depth_for(rate, link.rtt, latency_target, piece_size, link.max_depth))

    def close(self) -> None:
        self.held = False
        if self._limit is not None:
            self._limit.forget(self._woken)

    def _woken(self) -> None:
        self.held = False
        self._refill()
