"""When a request head that aiohttp is reading must be complete (pure: bytes and times in, a deadline out).

Why: aiohttp has no deadline for a request's head. Its keep-alive timer runs from a connection's start or its
last answer and bytes do not reset it, so it bounds a head only as long as it bounds an idle connection (75 s
here): a client that trickles a head a byte a second holds a connection, and a place under the connection cap,
that long. The tracker's fast path gives a request ``Deadlines.request`` from its first byte; connections it
hands to aiohttp, and every connection of the node's web port, had only aiohttp's timer.

``HeadClock`` follows a connection's incoming bytes just far enough to know where each request's head starts and
ends: a head ends at its first empty line (CRLF or bare LF: aiohttp's parser decides what is valid, this only
must not miss an end), and a ``Content-Length`` body that follows is skipped byte for byte. While a head is
incomplete, ``due`` is the time by which it must be; between requests (including while aiohttp answers) there
is none, and aiohttp's keep-alive timer stays the idle deadline. A new connection may be given a deadline
for its first byte (``first_byte``, from its start): one that sends nothing at all.

A body framed otherwise (``Transfer-Encoding``, an upgrade) cannot be skipped without parsing it: the clock
stops following that connection (``due`` None for good) and aiohttp's own limits are what is left. None of the
clients here sends one; a head too long to be valid (over ``MAX_HEAD``) stops it too, as aiohttp refuses such a
head and closes at once.
"""

from __future__ import annotations

import enum
import re

MAX_HEAD = 64 * 1024  # aiohttp's limits (8190 bytes a line, 32 KiB of fields) refuse any head longer
_LENGTH = re.compile(rb"\ncontent-length[ \t]*:[ \t]*([0-9]{1,18})[ \t]*\r?\n")
_UNFOLLOWABLE = re.compile(rb"\n(?:transfer-encoding|upgrade)[ \t]*:")


class Phase(enum.Enum):
    NEW = "no byte yet"
    IDLE = "between requests"
    HEAD = "a head under way"
    BODY = "skipping a Content-Length body"
    BLIND = "no longer followed"


class HeadClock:
    """One connection's request heads; feed it every byte received, in order, with the time it came."""

    def __init__(self, head_limit: float, first_byte: tuple[float, float] | None = None) -> None:
        """``head_limit``: seconds from a head's first byte to its end. ``first_byte``: (the connection's start,
        seconds it has to send its first head in full), for a connection no byte of which has been seen."""
        if head_limit <= 0:
            raise ValueError("the head deadline must be positive")
        self.head_limit = head_limit
        self.phase = Phase.IDLE
        self._head = bytearray()  # the head so far (at most MAX_HEAD bytes)
        self._body_left = 0
        self._due: float | None = None
        if first_byte is not None:
            start, limit = first_byte
            self.phase, self._due = Phase.NEW, start + limit

    @property
    def due(self) -> float | None:
        """When the head under way must be complete; None when no head is under way (or the clock is blind)."""
        return self._due if self.phase is Phase.HEAD or self.phase is Phase.NEW else None

    def feed(self, data: bytes, now: float) -> None:
        if not self._head and (self.phase is Phase.IDLE or self.phase is Phase.NEW):
            # The usual case, a whole head (and often its body) in one read: no copy, no loop.
            end = _head_end(data, 0)
            if end >= 0:
                following = self._after_head(data[:end])
                data = data[end:]
                if not (data and following):
                    return
        view = memoryview(data)
        while view and self.phase is not Phase.BLIND:
            if self.phase is Phase.IDLE or self.phase is Phase.NEW:  # a head's first byte: its clock starts
                self.phase, self._due = Phase.HEAD, now + self.head_limit
            if self.phase is Phase.BODY:
                taken = min(self._body_left, len(view))
                self._body_left -= taken
                view = view[taken:]
                if not self._body_left:
                    self.phase = Phase.IDLE
                continue
            view = self._feed_head(view)

    def _feed_head(self, view: memoryview) -> memoryview:
        """Take head bytes from ``view``; the bytes after the head's end are returned (empty if it goes on)."""
        seen = len(self._head)
        self._head += view
        end = _head_end(self._head, max(0, seen - 2))
        if end < 0:
            if len(self._head) > MAX_HEAD:
                self._go_blind()
            return view[len(view):]
        rest = view[end - seen:]
        head = bytes(self._head[:end])
        self._head.clear()
        self._after_head(head)
        return rest

    def _after_head(self, head: bytes) -> bool:
        """A whole head is in: what comes next is its body, if one of known length, or the next head. False: the
        connection is no longer followed."""
        head = head.lower()
        # the cheap substring tests first; the pattern tells ``Upgrade:`` from ``Upgrade-Insecure-Requests:``
        if (b"\ntransfer-encoding" in head or b"\nupgrade" in head) and _UNFOLLOWABLE.search(head):
            self._go_blind()
            return False
        at = head.find(b"\ncontent-length")
        length = _LENGTH.search(head, at) if at >= 0 else None
        self._body_left = int(length[1]) if length else 0
        self.phase = Phase.BODY if self._body_left else Phase.IDLE
        return True

    def _go_blind(self) -> None:
        self.phase = Phase.BLIND
        self._head = bytearray()


def _head_end(buf: bytes | bytearray, start: int) -> int:
    """Where the bytes after a head's empty line start in ``buf`` (searched from ``start``), or -1."""
    crlf = buf.find(b"\n\r\n", start)
    lf = buf.find(b"\n\n", start, crlf if crlf >= 0 else len(buf))  # a bare-LF end only counts if earlier
    if lf >= 0:
        return lf + 2
    return crlf + 3 if crlf >= 0 else -1
