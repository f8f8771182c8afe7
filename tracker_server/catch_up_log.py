"""What a secondary tells its operator while it copies a log it lacks (after a fresh or an old data dir, or a
long absence): one line when the copying starts and one when it is level with the primary. Appends that carry
new writes as they happen say nothing; neither do repeats of entries already held.

Pure: ``applied`` returns the line to log, if any; the caller logs it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class CatchUpLog:
    copying_from: int | None = None  # the primary's number while a copy is under way

    def applied(self, sender: int, last_index: int, head: int | None, entries: int) -> str | None:
        """``entries`` new entries from tracker ``sender`` now end at ``last_index``; ``head`` is the end of the
        sender's log when it marks the append as catch-up (None for a live write)."""
        if head is None:
            return None
        if last_index < head:
            if self.copying_from == sender:
                return None
            self.copying_from = sender
            return (f"copying the log from tracker {sender}: {entries} entries stored, now at log index "
                    f"{last_index} of {head}")
        was_copying, self.copying_from = self.copying_from is not None, None
        verb = "copied the log" if was_copying else f"copied {entries} missing entries"
        return f"{verb} from tracker {sender}: level with it at log index {last_index}"

    def snapshot(self, sender: int, last_index: int, users: int, groups: int) -> str:
        self.copying_from = None
        return (f"replaced this tracker's state with a snapshot from tracker {sender}: log index {last_index}, "
                f"{users} users, {groups} groups")
