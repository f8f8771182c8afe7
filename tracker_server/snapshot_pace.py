"""When the primary may send a whole snapshot to a secondary again after one failed (pure: times in, answers out).

Why: a snapshot is the dearest message of the cluster. The primary reads every table and the log and encodes and
signs them: for a 139 MB snapshot (20,000 entries), seconds of a core on the shared 2-core machine (once 0.5-2.5 s of
dump under the store's lock and 0.8-4.8 s of encoding on the event loop; now in a worker thread, in pieces, from a
read transaction of its own: ``snapshot_codec.py``), and the secondary as much again to decode and install it. Since
log compaction, it is how any secondary away past the compaction point is caught up, and the heartbeat's catch-up
tries again at every tick (every half second or so) while the secondary stays behind. A secondary that cannot take
it (its disk full: 503 "cannot store"; a tracker of the previous release sent one in parts: 404; one too slow to
install it within the time allowed) would have both spend that again and again, for as long as that lasts. So after
a failure the next one waits, doubling from ``first_s`` up to ``most_s``; one taken ends the wait.
"""

from __future__ import annotations

from dataclasses import dataclass, field


class SnapshotPaced(Exception):
    """The last snapshot to this tracker failed a moment ago: none is sent to it before the pace allows."""


@dataclass
class SnapshotPace:
    first_s: float
    most_s: float
    _wait: dict[int, float] = field(default_factory=dict)  # tracker -> the wait its last failure started
    _until: dict[int, float] = field(default_factory=dict)  # tracker -> when the next snapshot may go

    def left(self, no: int, now: float) -> float:
        """Seconds before a snapshot may be sent to tracker ``no`` (0: now)."""
        return max(0.0, self._until.get(no, now) - now)

    def failed(self, no: int, now: float) -> None:
        wait = min(self.most_s, 2 * self._wait[no]) if no in self._wait else self.first_s
        self._wait[no], self._until[no] = wait, now + wait

    def taken(self, no: int) -> None:
        self._wait.pop(no, None)
        self._until.pop(no, None)
