"""When the node waits out a tracker's "slow down" by itself, and when the caller hears it (pure: no I/O).

Theory of operation: a tracker that limits a client (``tracker_server/write_rate.py``, ``signups.py``,
``hash_gate.py``) answers 429, or 503 while its password hashers are all busy, with ``Retry-After``: it is alive, it
wrote nothing, and it will take the very same request after that many seconds. Resending it with the same op_id
costs nothing (a retried op_id cannot be applied twice, and costs no token). So, as mature clients do (AWS SDKs,
kubernetes' client-go, pip), the tracker client waits that out itself, quietly, and sends the request again, as long
as the wait ends within ``PATIENCE_S`` of the call's start; a wait that would end later is not started, and the
refusal reaches the caller as before, with its wait. The bound is the call's (``deadline``), not each failover
round's: a call lasts at most ``PATIENCE_S`` plus its last try, which has the client's usual failover time
(``retry_s`` of rounds, each request up to ``timeout_s``). Not waited out at all:

- a login lockout (``LoginLocked``: too many wrong passwords): the person must hear it at once, and a resent login
  would be one more guess;
- a 5xx without ``Retry-After`` (a tracker down, electing, or a secondary whose disk is full: "cannot store"): that
  is the tracker client's failover, to the next tracker at once, then rounds of the list for ``retry_s``.

A 503 with ``Retry-After`` moves on to the next tracker at once like any 5xx (another may answer now), but the busy
one is not asked again before its ``Retry-After`` (``busy_until``): the next round waits for it, within the bound.

Why 20 s: it must hold the longest wait a person meets in normal use, one login or sign-up per 10 s per address past
a burst, plus a hash-gate wait or two, and stay well inside what a person at a form or a script's ``curl`` waits
before giving up (a page that answers after 15 s beats an error to retry by hand; one silent for a minute does not).
At the tracker's write rate (2 a second) 20 s is 40 writes: a script's writes in a row are paced, not refused.
Jitter: each wait is stretched by up to ``JITTER`` of itself, so nodes refused in the same second (a class behind
one address, all logging in) do not all come back in the same instant and collide again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from wire.errors import LoginLocked, TooManyRequests

PATIENCE_S = 20.0
MIN_WAIT_S = 0.5  # a Retry-After of 0 must not make a resend loop that hammers the tracker for the whole bound
JITTER = 0.5


def retry_after_s(header: str | None) -> int | None:
    """The seconds of a ``Retry-After`` header in its delta-seconds form; None when absent or not a number (its
    HTTP-date form: no tracker sends it)."""
    text = (header or "").strip()
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 9 else None


@dataclass(frozen=True)
class Patience:
    """One call's patience: it started at ``started`` (a monotonic clock's seconds) and may last ``bound_s``."""

    started: float
    bound_s: float = PATIENCE_S
    jitter: Callable[[], float] = lambda: 0.0  # a number in [0, 1): random.random in use, fixed in tests

    @property
    def deadline(self) -> float:
        return self.started + self.bound_s

    def wait(self, refusal: TooManyRequests, now: float) -> float | None:
        """Seconds to wait before sending the refused request again, or None: the caller hears ``refusal`` now."""
        if isinstance(refusal, LoginLocked):
            return None
        wait = max(float(refusal.retry_after), MIN_WAIT_S) * (1.0 + JITTER * self.jitter())
        return wait if now + wait <= self.deadline else None

    def busy_until(self, retry_after: int, now: float) -> float | None:
        """When a tracker that answered busy (503 with ``Retry-After``) may be asked again, or None: not within
        this call."""
        until = now + max(float(retry_after), MIN_WAIT_S) * (1.0 + JITTER * self.jitter())
        return until if until <= self.deadline else None


class Pauses:
    """The calls waiting out a "slow down" now, and when each asks again: a person at a browser form that waits on
    one is told why it takes so long (``web_ui/events.py``, ``pacing``), rather than a page silent for 20 s."""

    def __init__(self) -> None:
        self._until: dict[object, float] = {}

    @contextmanager
    def holding(self, until: float) -> Iterator[None]:
        """One call waits until ``until`` (the same clock as ``left``'s ``now``) while in this block."""
        key = object()
        self._until[key] = until
        try:
            yield
        finally:
            del self._until[key]

    def left(self, now: float) -> float | None:
        """Seconds until the last of the waiting calls asks again; None when none waits."""
        until = max(self._until.values(), default=None)
        return None if until is None else max(0.0, until - now)
