"""Whether this tracker could store what the primary last sent it: the secondary's side of a full disk.

Theory of operation: a secondary that cannot write its SQLite database (a full disk, an I/O error) keeps running
and keeps answering pings, so nothing else in the cluster sees it fall behind. It answers each append or snapshot
it cannot store with a 503 ``cannot store: <reason>`` (the primary warns about it, ``cluster_link``), says so in
its own log once and then once a minute while it lasts (not a traceback per replicated write), and shows it in
``/healthz`` (``cannot_store_since``, ``cannot_store``) until a write goes through again. Pure: the caller passes
the clocks in and does the logging.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

SAY_AGAIN_EVERY_S = 60.0


@dataclass
class StoreHealth:
    since: float | None = None  # wall-clock time of the first failure of the current run of failures
    reason: str | None = None
    _said_at: float | None = None  # monotonic time it was last said in the log

    def failed(self, reason: str, wall: float, mono: float) -> bool:
        """Record a failure to store; whether to say it in the log now (the first, then once a minute)."""
        if self.since is None:
            self.since = wall
        self.reason = reason
        if self._said_at is None or mono - self._said_at >= SAY_AGAIN_EVERY_S:
            self._said_at = mono
            return True
        return False

    def stored(self) -> float | None:
        """Record a write that went through; when the failures it ends began (None: there were none)."""
        since, self.since, self.reason, self._said_at = self.since, None, None, None
        return since

    def fields(self) -> dict[str, Any]:
        """What /healthz adds: both null while the store takes what it is sent."""
        return {"cannot_store_since": self.since, "cannot_store": self.reason}


def store_error(exc: BaseException) -> str:
    """A storing failure in words for the 503, the log and /healthz (sqlite's own words name the cause)."""
    if isinstance(exc, OSError) and exc.strerror:
        return f"{exc.strerror} ({exc.filename})" if exc.filename else exc.strerror
    return str(exc) or type(exc).__name__
