"""Sign-up throttling per client address: a token bucket per address, in this tracker's memory only.

Theory of operation: every account costs one scrypt hash and one log entry kept for ever, and registration is open
to anyone, so one address may not create accounts without bound. Each address (an IPv6 address by its /64, as for
login throttling: ``throttle.address_key``) has a bucket of ``burst`` sign-ups that refills by one every
``interval`` seconds. A sign-up that would hash takes a token BEFORE hashing (so concurrent requests cannot all slip
past the check); an empty bucket is 429 with ``Retry-After`` (the seconds until one token is back), costing neither
hash nor log entry. Only sign-ups that hash are charged: a taken user id (409, no hash) and a retry of an answered
op_id cost nothing, so a student retrying with another name after "taken" loses no budget for it.

Why these numbers (the defaults): a class of 30-40 students behind one NAT address registering in the same minute
must all get through, with room for a few typos and a teacher's test accounts: a burst of 50. Afterwards one
sign-up per 10 s (360 an hour) is far more than any shared address needs once the class is in, and caps a flood
from one address at 360 hashes and log entries an hour instead of as many as the CPU allows. A drained bucket is
full again after 500 s.

Why not replicated (unlike the login throttle): losing the buckets on a failover or restart gives an address at
most one more burst of 50 accounts, and a failover is not something a client can cause at will. Login failures
must survive because every lost count is more password guesses at one account; here nothing is guessed, the cost
is bounded resources. Replicating would also write client addresses into the permanent log beside the accounts they
created, which we would rather not keep. Secondaries never charge: they relay every sign-up to the primary, which
charges the client's address (signed ``X-GS-Client``, ``throttle.client_address``), never the secondary's.

Memory and pruning: ``buckets.TokenBuckets`` (full buckets are dropped as they are looked at; ``max_tracked`` caps
them). Pure: no I/O, ``now`` is passed in.
"""

from __future__ import annotations

from dataclasses import dataclass

from tracker_server.buckets import PRUNE_SCAN, BucketPolicy, TokenBuckets
from wire.login_throttle import address_key

__all__ = ["PRUNE_SCAN", "SignupPolicy", "SignupThrottle"]

DEFAULT_BURST = 50
DEFAULT_INTERVAL = 10.0


@dataclass(frozen=True, slots=True)
class SignupPolicy:
    burst: float = DEFAULT_BURST
    interval: float = DEFAULT_INTERVAL  # seconds per token refilled
    max_tracked: int = 50_000


class SignupThrottle(TokenBuckets):
    """Buckets ``{address key: (tokens, at)}``; the dict runs from the least recently charged key."""

    def __init__(self, policy: SignupPolicy | None = None) -> None:
        policy = policy or SignupPolicy()
        super().__init__(BucketPolicy(policy.burst, policy.interval, policy.max_tracked),
                         "too many sign-ups from your address")

    def charge(self, address: str, now: float) -> None:
        """Take one sign-up from ``address``'s bucket, or raise 429 with the seconds until one is back."""
        self.take(address_key(address), now)
