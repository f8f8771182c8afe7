"""One short line now and then for aiohttp's per-connection errors, instead of a traceback for each.

Why: aiohttp's server logs every malformed request (a bad method, a header line too long, a broken chunk) with a
full traceback on the ``aiohttp.server`` logger: 2,000 bad requests from anyone on the network wrote 1.1 MB of
log. What an operator needs is that it happens and how often, so ``QuietFilter`` lets through at most one record
per ``every`` seconds, shortened to one line (the exception's type and message, no traceback), counting the ones
it dropped in between and saying that count in the next line it lets through. The decision (``Quota``) is pure:
time in, verdict out.

``quiet_aiohttp_server_log`` installs it; both the tracker and the node call it in their logging setup.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

AIOHTTP_SERVER = "aiohttp.server"
EVERY = 10.0


class Quota:
    """At most one event per ``every`` seconds; ``take`` returns how many were refused since the last one let
    through, or None when this one is refused too."""

    def __init__(self, every: float) -> None:
        self.every = every
        self._next = float("-inf")
        self._dropped = 0

    def take(self, now: float) -> int | None:
        if now < self._next:
            self._dropped += 1
            return None
        dropped, self._dropped, self._next = self._dropped, 0, now + self.every
        return dropped


class QuietFilter(logging.Filter):
    """Rate-limits a logger's records to ``Quota``'s and flattens each kept one to a single line."""

    def __init__(self, every: float = EVERY, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self._quota = Quota(every)
        self._clock = clock

    def filter(self, record: logging.LogRecord) -> bool:
        dropped = self._quota.take(self._clock())
        if dropped is None:
            return False
        text = record.getMessage()
        if record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            detail = " ".join(str(exc).split())[:200]  # aiohttp's parser errors quote the bad line below the first
            text = f"{text}: {type(exc).__name__}" + (f": {detail}" if detail else "")
        if dropped:
            text += f" ({dropped} more such lines dropped in the last {self._quota.every:g} s or more)"
        record.msg, record.args = text[:500], None  # a line: the message may quote the client's bytes
        record.exc_info, record.exc_text, record.stack_info = None, None, None
        return True


def quiet_aiohttp_server_log(every: float = EVERY) -> QuietFilter:
    """Install the filter on ``aiohttp.server`` (once: a second call replaces the first's)."""
    logger = logging.getLogger(AIOHTTP_SERVER)
    for old in [f for f in logger.filters if isinstance(f, QuietFilter)]:
        logger.removeFilter(old)
    quiet = QuietFilter(every)
    logger.addFilter(quiet)
    return quiet
