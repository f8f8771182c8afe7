"""Rate limits on what a client may write into the permanent log, and on successful logins per account.

Theory of operation: every accepted write is a log entry (about 300 bytes) replicated to every tracker and kept for
ever, and its op_id's result is kept in memory for ever too. Quotas (``quotas.py``) cap what exists at once, not
how often it changes: join and leave in a loop wrote 190 entries a second. So, before anything is decided or
written, the writer is charged one token from a bucket (``buckets.TokenBuckets``; a refusal is 429 with
``Retry-After``, in the API's error form, and costs nothing):

- a logged-in user's writes (groups, joins, leaves, decisions, shares, logout), per user id: ``user_burst`` at
  once, then one every ``user_interval`` seconds. Keyed by the user, not the address, so a secondary relaying the
  write (whose address the primary sees) changes nothing: the session token travels with it.
- logins (which write a session, or a failure record), per client address (an IPv6 address by its /64): the same
  numbers, checked before hashing and spent once hashed (an address hashes one at a time: ``hash_gate.py``). A
  secondary relays the client's address signed (``throttle.client_address``), so the client is charged.
  Sign-ups have their own, stricter bucket per address (``signups.py``).
- successful logins per account: ``login_burst``, then one every ``login_interval``. Checked before hashing and
  spent only when the password proved right: wrong guesses cannot drain the owner's bucket.

Why these numbers: a person clicks far slower than 2 writes a second; a node's own writes are one per share made,
per download finished and per share found changed at its start (``peer_node/shares.py``), and a script may share a
folder of a few hundred files in one go (the browser tests share 230): 300 at once covers those, and costs about
90 KB of log. Sustained, 2 a second is 7,200 entries an hour per user at most, against 680,000 before (a node waits
out a short 429 on its own, ``peer_node/tracker_patience.py``: a larger job is paced, not refused). A login is
rarer: 60 at once, then one every 10 s, covers a node and a browser logging in again and again (the browser tests
log one user in about a hundred times in ten minutes), and bounds how much hashing one known password can buy from
many addresses (one address hashes one at a time anyway).
``--write-burst`` and ``--write-interval`` set the numbers of writes and of logins per address (the benchmarks,
whose one address sets up thousands of users, raise them).
Pure: no I/O, ``now`` is passed in.
"""

from __future__ import annotations

from dataclasses import dataclass

from tracker_server.buckets import BucketPolicy, TokenBuckets
from wire.login_throttle import address_key

DEFAULT_WRITE_BURST = 300
DEFAULT_WRITE_INTERVAL = 0.5


@dataclass(frozen=True, slots=True)
class WritePolicy:
    user_burst: float = DEFAULT_WRITE_BURST
    user_interval: float = DEFAULT_WRITE_INTERVAL
    address_burst: float = DEFAULT_WRITE_BURST
    address_interval: float = DEFAULT_WRITE_INTERVAL
    login_burst: float = 60
    login_interval: float = 10.0


class WriteRate:
    def __init__(self, policy: WritePolicy | None = None) -> None:
        self.policy = p = policy or WritePolicy()
        self.users = TokenBuckets(BucketPolicy(p.user_burst, p.user_interval), "too many changes in a short time")
        self.addresses = TokenBuckets(BucketPolicy(p.address_burst, p.address_interval),
                                      "too many logins from your address")
        self.logins = TokenBuckets(BucketPolicy(p.login_burst, p.login_interval), "too many logins to this account")

    def charge_user(self, user_id: str, now: float) -> None:
        self.users.take(user_id, now)

    def check_address(self, address: str, now: float) -> None:
        """Whether ``address`` may log in now (with no address, an in-process caller: yes). Spent only once the
        password was hashed (``spend_address``): a login refused on the way costs the address nothing."""
        if address:
            self.addresses.check(address_key(address), now)

    def spend_address(self, address: str, now: float) -> None:
        if address:
            self.addresses.spend(address_key(address), now)

    def check_login(self, user_id: str, address: str, now: float) -> None:
        """Before hashing: may ``address`` log in now, and may ``user_id`` have one more session? (With no address,
        an in-process caller, only the account is asked.) Nothing is spent here: a login refused on the way, or a
        wrong password, costs the address nothing more than ``spend_login`` says, and the account nothing."""
        self.logins.check(user_id, now)
        if address:
            self.addresses.check(address_key(address), now)

    def spend_login(self, user_id: str, address: str, good: bool, now: float) -> None:
        """After hashing: the address pays for the hash (and the entry either outcome writes), the account for a
        session only."""
        if address:
            self.addresses.spend(address_key(address), now)
        if good:
            self.logins.spend(user_id, now)
