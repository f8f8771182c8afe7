"""The trackers' time, as this node can tell it from their answers' ``Date`` headers (pure: tested without a
network).

Access tokens name when they expire in the trackers' time, and a seeder checks them against its own clock. A seeder
whose clock ran minutes ahead (a laptop never synchronised, a VM restored from a snapshot) refused every token as
expired: it served nothing, said nothing, and its downloaders retried for ever. So the piece server reads the time
as the trackers tell it: this machine's clock plus the offset their answers show. ``Date`` is whole seconds, so an
offset under ``IGNORE_S`` is taken as none (no jitter for well-kept clocks), and the median of the last few answers
keeps one slow answer from moving it.
"""

from __future__ import annotations

import email.utils
import statistics
import time
from collections import deque
from collections.abc import Callable

IGNORE_S = 2.0  # under this the clocks agree, as far as whole-second headers can tell
WARN_S = 30.0  # past this the user is told their clock is off (internal signatures allow 30 s too)
KEEP = 9


class TrackerClock:
    def __init__(self, local: Callable[[], float] = time.time) -> None:
        self._local = local
        self._offsets: deque[float] = deque(maxlen=KEEP)
        self._offset = 0.0  # worked out when an answer comes, not at each ``now``: a seeder asks per block sent

    def heard(self, date_header: str | None, received_at: float) -> None:
        """A tracker's answer arrived at ``received_at`` (this machine's time) with this ``Date`` header."""
        if not date_header:
            return
        try:
            said = email.utils.parsedate_to_datetime(date_header).timestamp()
        except (TypeError, ValueError, IndexError, OverflowError):  # not a date a tracker would send: ignored
            return
        # The header is truncated to the second: the tracker's time was in [said, said + 1).
        self._offsets.append(said + 0.5 - received_at)
        median = statistics.median(self._offsets)
        self._offset = median if abs(median) >= IGNORE_S else 0.0

    @property
    def offset(self) -> float:
        """Seconds to add to this machine's clock to read the trackers' (0 until known, or while under IGNORE_S)."""
        return self._offset

    def now(self) -> float:
        return self._local() + self._offset


def skew_words(offset: float) -> str:
    """``this computer's clock is 6 min 40 s ahead of the trackers'`` (for a warning; ``offset`` as in
    ``TrackerClock.offset``: what to add to this clock to read theirs)."""
    seconds = round(abs(offset))
    minutes, rest = divmod(seconds, 60)
    amount = f"{minutes} min {rest} s" if minutes else f"{rest} s"
    return f"this computer's clock is {amount} {'behind' if offset > 0 else 'ahead of'} the trackers'"
