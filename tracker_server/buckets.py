"""Token buckets keyed by any string, in this tracker's memory: the rate limits of sign-ups, writes and logins.

Theory of operation: each key has a bucket of ``burst`` tokens that refills by one every ``interval`` seconds.
``take`` removes one token or raises 429 (``TooManyRequests``) with ``Retry-After`` the seconds until one is back;
``check`` only asks (for a cost paid later, e.g. after a password proved right). A refused request costs nothing.

Memory: a bucket that has refilled to ``burst`` is the same as no bucket, so it is dropped; each ``take`` looks at
the ``PRUNE_SCAN`` least recently charged buckets and drops the full ones, and ``max_tracked`` caps them anyway:
past it the least recently charged bucket (the fullest) is forgotten, which can only be generous.
Why not replicated: losing the buckets on a failover or restart grants at most one more burst per key, and a
client cannot cause a failover at will; replicating would put every client's rate into the permanent log.
Pure: no I/O, ``now`` is passed in.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from wire.errors import TooManyRequests

PRUNE_SCAN = 8  # least recently charged buckets looked at (and dropped when full) per charge


@dataclass(frozen=True, slots=True)
class BucketPolicy:
    burst: float
    interval: float  # seconds per token refilled
    max_tracked: int = 50_000


class TokenBuckets:
    """Buckets ``{key: (tokens, at)}``; the dict runs from the least recently charged key."""

    def __init__(self, policy: BucketPolicy, refusal: str = "too many requests") -> None:
        self.policy = policy
        self.refusal = refusal  # the 429's words; "; try again in N s" is added
        self.buckets: dict[str, tuple[float, float]] = {}

    def tokens(self, key: str, now: float) -> float:
        """Tokens ``key`` holds at ``now`` (a key without a bucket has a full one)."""
        bucket = self.buckets.get(key)
        if bucket is None:
            return self.policy.burst
        tokens, at = bucket
        return min(self.policy.burst, tokens + max(0.0, now - at) / self.policy.interval)

    def check(self, key: str, now: float) -> float:
        """Raise 429 if ``key`` has no whole token at ``now``; else return its tokens."""
        tokens = self.tokens(key, now)
        if tokens < 1.0:
            wait = max(1, math.ceil((1.0 - tokens) * self.policy.interval))
            raise TooManyRequests(f"{self.refusal}; try again in {wait} s", retry_after=wait)
        return tokens

    def take(self, key: str, now: float) -> None:
        """Take one token from ``key``'s bucket, or raise 429 with the seconds until one is back."""
        tokens = self.check(key, now)
        self.buckets.pop(key, None)  # re-inserted at the end: the most recently charged
        self.buckets[key] = (tokens - 1.0, now)
        self._prune(now)

    def spend(self, key: str, now: float) -> None:
        """Take a token for a cost already incurred (never refuses; an empty bucket stays at zero)."""
        tokens = self.tokens(key, now)
        self.buckets.pop(key, None)
        self.buckets[key] = (max(0.0, tokens - 1.0), now)
        self._prune(now)

    def _prune(self, now: float) -> None:
        full = [key for key, _ in zip(self.buckets, range(PRUNE_SCAN), strict=False)
                if self.tokens(key, now) >= self.policy.burst]
        for key in full:
            del self.buckets[key]
        while len(self.buckets) > self.policy.max_tracked:
            del self.buckets[next(iter(self.buckets))]
