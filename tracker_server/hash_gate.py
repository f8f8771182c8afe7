"""Fair admission to the password hasher: one hash at a time per client address, a bounded queue in all.

Theory of operation: every login and sign-up costs one scrypt hash (128 MiB, a few hundred ms), and the tracker
runs two at once (``passwords.PasswordHasher``). Unbounded, one client sending correct logins (or sign-ups) from
many connections filled the queue, and everyone else's login waited behind all of it: 6-10 s instead of 1.6 s.
So, before a request may even queue for the hasher:

- one address (an IPv6 address by its /64, ``login_throttle.address_key``) holds at most ``per_address`` hashes,
  queued or running; one more is refused at once with 429 and ``Retry-After`` (a person logs in once at a time; a
  node's login waits for its answer before it sends another);
- at most ``total`` hashes are queued or running in all; one more is refused at once with 503 and ``Retry-After``
  (``HashersBusy``): a login waits behind at most ``total`` hashes, about ``total / 2`` hash times, rather than
  behind whatever a crowd of addresses sent.

A request with no address (an in-process caller) is bounded by ``total`` only. The trade-off, stated in
SECURITY.md: people behind one NAT address who log in at the very same moment get "try again in a moment".
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

from wire.errors import TooManyRequests, Unavailable
from wire.login_throttle import address_key

DEFAULT_TOTAL = 8
BUSY_RETRY_S = 2


class HashersBusy(Unavailable, TooManyRequests):
    """503 ``unavailable`` (the status and code are Unavailable's: the first base) that carries ``Retry-After``:
    the API's middleware writes that header for every TooManyRequests, so this needs no change there."""


class HashGate:
    def __init__(self, per_address: int = 1, total: int = DEFAULT_TOTAL) -> None:
        self.per_address = per_address
        self.total = total
        self.by_address: Counter[str] = Counter()
        self.in_flight = 0

    @contextmanager
    def admit(self, client: str) -> Iterator[None]:
        """Hold a place for one hash for ``client`` (an address, or "" for none) while the block runs."""
        key = address_key(client) if client else ""
        if key and self.by_address[key] >= self.per_address:
            raise TooManyRequests("another login or sign-up from your address is being checked; try again in a "
                                  "moment", retry_after=1)
        if self.in_flight >= self.total:
            raise HashersBusy("the tracker is busy checking passwords; try again in a moment",
                              retry_after=BUSY_RETRY_S)
        self.in_flight += 1
        if key:
            self.by_address[key] += 1
        try:
            yield
        finally:
            self.in_flight -= 1
            if key:
                self.by_address[key] -= 1
                if self.by_address[key] <= 0:
                    del self.by_address[key]
