"""The trackers' time, as this node can tell it from their answers' ``Date`` headers (pure: tested without a
network).

Access tokens name when they expire in the trackers' time, and a seeder checks them against its own clock. A seeder
whose clock ran minutes ahead (a laptop never synchronised, a VM restored from a snapshot) refused every token as
expired: it served nothing, said nothing, and its downloaders retried for ever. So the piece server reads the time
as the trackers tell it, kept against the monotonic clock (``TrackerClock``). ``Date`` is whole seconds, so a
difference under ``IGNORE_S`` is taken as none (no jitter for well-kept clocks), and the median of the last few
answers keeps one slow or wild answer from moving it.
"""

from __future__ import annotations

import datetime
import email.utils
import statistics
import time
from collections import deque
from collections.abc import Callable

IGNORE_S = 2.0  # under this the clocks agree, as far as whole-second headers can tell
WARN_S = 30.0  # past this the user is told their clock is off (internal signatures allow 30 s too)
KEEP = 9
AT_LEAST = 3  # answers before the trackers' time is used: one wild Date (a proxy, a broken tracker) moves nothing
WILD_S = 86_400.0  # a Date this far from this clock is no tracker's time: ignored


class TrackerClock:
    """Each answer is kept as the trackers' time at this process's monotonic zero, so this machine's own clock
    being set (a step back or on) changes nothing of what was learnt; ``now`` adds the monotonic time to it."""

    def __init__(self, local: Callable[[], float] = time.time, mono: Callable[[], float] = time.monotonic) -> None:
        self._local, self._mono = local, mono
        self._anchors: deque[float] = deque(maxlen=KEEP)
        self._anchor: float | None = None  # the median, worked out when an answer comes, not at each ``now``

    def heard(self, date_header: str | None) -> None:
        """A tracker's answer arrived just now with this ``Date`` header."""
        if not date_header:
            return
        try:
            said = email.utils.parsedate_to_datetime(date_header)
        except (TypeError, ValueError, IndexError, OverflowError):  # not a date a tracker would send: ignored
            return
        if said.tzinfo is None:  # "-0000", or no zone: HTTP dates are GMT, never this machine's zone
            said = said.replace(tzinfo=datetime.UTC)
        try:
            tracker_time = said.timestamp() + 0.5  # truncated to the second: it was in [said, said + 1)
        except (OverflowError, OSError, ValueError):
            return
        if abs(tracker_time - self._local()) > WILD_S:
            return
        self._anchors.append(tracker_time - self._mono())
        if len(self._anchors) >= AT_LEAST:
            self._anchor = statistics.median(self._anchors)

    @property
    def offset(self) -> float:
        """Seconds to add to this machine's clock to read the trackers' (0 until known, or while under IGNORE_S)."""
        return self.now() - self._local()

    def now(self) -> float:
        wall = self._local()
        if self._anchor is None:
            return wall
        tracker = self._mono() + self._anchor
        return tracker if abs(tracker - wall) >= IGNORE_S else wall


def skew_words(offset: float) -> str:
    """``this computer's clock is 6 min 40 s ahead of the trackers'`` (for a warning; ``offset`` as in
    ``TrackerClock.offset``: what to add to this clock to read theirs)."""
    seconds = round(abs(offset))
    minutes, rest = divmod(seconds, 60)
    amount = f"{minutes} min {rest} s" if minutes else f"{rest} s"
    return f"this computer's clock is {amount} {'behind' if offset > 0 else 'ahead of'} the trackers'"
