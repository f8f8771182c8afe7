"""How many bytes of request bodies still coming one session may have the tracker hold (pure bookkeeping).

Why: a body is read whole before it is decided on, so while it trickles in the tracker holds what came so far,
up to ``max_body`` (1 MiB) for up to ``Deadlines.request`` (20 s). Without a session that is refused before the
body (the fast path) or capped at ``app.SESSIONLESS_MAX_BODY`` (aiohttp). With a live session it was bounded per
connection only: one account could hold 256 MiB from each address it had (256 connections an address, each
with a body of 1 MiB that all but its last byte was sent of), again every 20 s, and a session token works from
any address.

So each session may have at most ``cap`` bytes of bodies under way at once, counted by their ``Content-Length``
(a body of unknown length by ``max_body``) from the moment its head is in until the body is, or the connection
ends. Bodies that come with their head (nearly all: a heartbeat, a write) are never counted: nothing is held
waiting for them. ``DEFAULT_FACTOR`` bodies of the largest size a node sends at once is more than a node ever
has under way (one heartbeat and perhaps a write); a request over the allowance is refused 429 with
``Retry-After`` before its body is read.
"""

from __future__ import annotations

DEFAULT_FACTOR = 2  # the cap is this many times ``max_body``
RETRY_S = 1
MESSAGE = "too many request bodies of this session under way at once; try again"


class HeldBodies:
    def __init__(self, cap: int) -> None:
        if cap < 1:
            raise ValueError("the cap of held body bytes must be positive")
        self.cap = cap
        self._held: dict[str, int] = {}  # session token -> bytes promised and not yet in (only while > 0)

    def take(self, token: str, size: int) -> bool:
        """Count ``size`` more bytes for ``token``; False (nothing counted) when that would pass the cap."""
        held = self._held.get(token, 0)
        if held + size > self.cap:
            return False
        self._held[token] = held + size
        return True

    def give_back(self, token: str, size: int) -> None:
        left = self._held.get(token, 0) - size
        if left > 0:
            self._held[token] = left
        else:  # only sessions with bodies under way are kept: the dict cannot grow with every session ever seen
            self._held.pop(token, None)

    def held(self, token: str) -> int:
        return self._held.get(token, 0)
