"""What the tracker's listener allows a client connection (pure: numbers in, decisions out; no sockets).

The node's web port (``peer_node.web_port``) uses the same counts and over-cap answers, hence ``wire/``.

Why: a denial-of-service audit held the tracker's memory with connections that send a request's head and all but
the last byte of a 1 MiB body (about 1 MiB each, kept for ever: the idle timer was aiohttp's 3630 s, reset by
every byte), and its descriptors with connections that never write or trickle a header byte a second. So:

- ``Deadlines``: a new connection must send its first byte within ``first_byte``; a request, once its first byte
  is in, must be complete within ``request``; between requests a connection may stay quiet ``idle``. The
  listener checks them in a sweep (``Cutoffs``: three subtractions per sweep, one comparison per connection),
  not with a timer per request, which would cost the hot path a timer re-armed per answer.
- ``AddressCounts``: at most ``cap`` simultaneous connections per client address (IPv6 by its /64, as the login
  throttle groups them), counted from accept to close, also after the fast path hands a connection to aiohttp.
  The default cap is far above what a real deployment needs (a node keeps one or two connections to a tracker;
  256 is a whole class or office of nodes behind one NAT address) and far below what holds a tracker down.
- ``OverCapAnswers``: a connection over the cap is told so (503, ``Retry-After``, ``Connection: close``, the API's
  error form) rather than reset, so a client behind a busy NAT hears "busy, try again" (a node moves on to the next
  tracker, or waits) instead of a bare "connection reset". The answer is written at once, without reading the
  request (the listener never reads such a connection), and the connection is cut after a short linger (closing
  at once, with the client's request unread, would send a reset that can make its system drop our answer). What
  it costs beyond the reset: a descriptor for the linger, and only ``cap`` of those at once; past that, a reset as
  before.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from wire.login_throttle import address_key

DEFAULT_MAX_PER_ADDRESS = 256
OVER_CAP_RETRY_S = 2  # the over-cap answer's Retry-After: a node has the next tracker asked at once anyway
OVER_CAP_MESSAGE = f"too many connections from your address at once; try again in {OVER_CAP_RETRY_S} s"
DEFAULT_OVER_CAP_ANSWERS = 64


@dataclass(frozen=True)
class Deadlines:
    """Seconds; see the module docstring. ``idle`` is far above the 15 s for which aiohttp's client (the node's
    tracker client, the trackers' links to each other) keeps an idle connection, so a client always closes
    first and never sends a request on a connection the tracker is closing."""

    first_byte: float = 10.0
    request: float = 20.0
    idle: float = 75.0

    def __post_init__(self) -> None:
        if not (self.first_byte > 0 and self.request > 0 and self.idle > 0):
            raise ValueError("connection deadlines must be positive")

    def cutoffs(self, now: float) -> Cutoffs:
        """A connection whose clock started before the matching cut-off has missed its deadline."""
        return Cutoffs(now - self.first_byte, now - self.request, now - self.idle)


class Cutoffs(NamedTuple):
    first_byte: float  # a connection that has sent nothing, accepted before this
    request: float  # a request whose first byte came before this and that is not complete yet
    idle: float  # a connection between requests whose last byte came before this


def key_of(peername: object) -> str:
    """The counting key of a transport's ``peername`` (a tuple whose first item is the host; None when unknown)."""
    if isinstance(peername, tuple) and peername and isinstance(peername[0], str):
        return address_key(peername[0])
    return "a:?"  # a Unix socket or an already closed one: all such connections share one count


class AddressCounts:
    """Open connections per address key; ``admit`` refuses the one over the cap."""

    def __init__(self, cap: int = DEFAULT_MAX_PER_ADDRESS) -> None:
        if cap < 1:
            raise ValueError("the connection cap per address must be at least 1")
        self.cap = cap
        self._open: dict[str, int] = {}

    def admit(self, key: str) -> bool:
        held = self._open.get(key, 0)
        if held >= self.cap:
            return False
        self._open[key] = held + 1
        return True

    def release(self, key: str) -> None:
        held = self._open.get(key, 0) - 1
        if held > 0:
            self._open[key] = held
        else:  # the dict keeps only addresses with open connections: it cannot grow with every address ever seen
            self._open.pop(key, None)

    def held(self, key: str) -> int:
        return self._open.get(key, 0)

    def __len__(self) -> int:
        return len(self._open)


class OverCapAnswers:
    """Over-cap connections answered and not yet cut, at most ``cap`` at once (the module docstring says why)."""

    def __init__(self, cap: int = DEFAULT_OVER_CAP_ANSWERS) -> None:
        self.cap = cap
        self.lingering = 0

    def take(self) -> bool:
        """Whether one more over-cap connection may be answered (else it is reset at once)."""
        if self.lingering >= self.cap:
            return False
        self.lingering += 1
        return True

    def give_back(self) -> None:
        self.lingering = max(0, self.lingering - 1)
