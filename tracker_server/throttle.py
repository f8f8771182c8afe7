"""Login throttling on the tracker: the records are replicated, and forwarded logins keep the client's address.

Theory of operation: the policy is ``wire/login_throttle.py`` (per account and per address, doubling locks past
some free failures, refused before any hashing). Here every failed login is a durable fact, written as a
``login_fail`` log entry like any other mutation, so a restarted tracker and a new primary after a failover keep
counting where the old one stopped (the records live in ``State.login_failures`` and in the ``login_failures``
table).

A secondary tracker forwards logins (and sign-ups, see ``signups.py``) to the primary, which then sees the
secondary's address: the secondary adds the client's address in ``X-GS-Client`` with an HMAC under the cluster key
over that address, the time and the body (``sign_client``), and only a correctly signed, fresh header for this
very body is believed (``client_address``); a client's own ``X-GS-Client`` is never relayed.
Pure: no I/O, ``now`` is passed in.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from wire.errors import Unavailable

CLIENT_HEADER = "X-GS-Client"
CLIENT_SIG_HEADER = "X-GS-Client-Signature"
MAX_CLIENT_SKEW_S = 30.0


class RegistrationGate:
    """At most ``limit`` registrations hash a password at once (queued ones included); more get 503 at once.

    Registration is open to anyone and logins share the same two hashing slots, so an unbounded queue of sign-ups
    would delay every login; this bounds that delay to ``limit`` hashes. A refused client retries (503 means
    "try again", as for any write)."""

    def __init__(self, limit: int = 32) -> None:
        self.limit = limit
        self.in_flight = 0

    @contextmanager
    def enter(self) -> Iterator[None]:
        if self.in_flight >= self.limit:
            raise Unavailable("too many sign-ups in progress; try again in a moment")
        self.in_flight += 1
        try:
            yield
        finally:
            self.in_flight -= 1


# ---------------------------------------------------------------------------------------------- forwarded logins

def _client_mac(key: bytes, address: str, when: str, body: bytes) -> str:
    message = f"client-address\n{address}\n{when}\n{hashlib.sha256(body).hexdigest()}"
    return hmac.new(key, message.encode(), hashlib.sha256).hexdigest()


def sign_client(key: bytes, address: str, now: float, body: bytes) -> dict[str, str]:
    """Headers a forwarding secondary adds so the primary counts the real client's address.

    The MAC covers the forwarded body too: a header seen on the wire cannot be replayed on another request to
    charge (or spare) an address of the replayer's choosing; replaying it with the same body repeats the same
    op_id, which is answered from the log without a new charge."""
    when = str(int(now))
    return {CLIENT_HEADER: f"{address} {when}", CLIENT_SIG_HEADER: _client_mac(key, address, when, body)}


def client_address(headers: Mapping[str, str], remote: str | None, key: bytes, now: float, body: bytes) -> str:
    """The address to count: a correctly signed, fresh ``X-GS-Client`` for this body, else the TCP peer's."""
    claimed, signature = headers.get(CLIENT_HEADER, ""), headers.get(CLIENT_SIG_HEADER, "")
    address, _, when = claimed.partition(" ")
    fresh = when.isascii() and when.isdigit() and abs(now - int(when)) <= MAX_CLIENT_SKEW_S  # not "²": int() fails
    if address and fresh and len(signature) == 64 \
            and hmac.compare_digest(_client_mac(key, address, when, body), signature):
        return address
    return remote or ""
