"""Soft state: which sessions are live and which pieces each reports holding. Memory only, never logged.

Theory of operation: a peer's heartbeat stamps its session with ``now`` and replaces its holdings. A session is
live while ``now - last_seen < peer_timeout``. Sessions known at start (after a restart or failover) get a grace
stamp of the start time, so a tracker restart neither shows everyone offline nor lets a second node steal a
login during the first heartbeat interval. Pure: ``now`` is passed in.
"""

from __future__ import annotations

from dataclasses import dataclass, field

Holding = bytes | None  # a bitfield, or None for "all"
HoldingKey = tuple[str, str]  # (group_id, file_sha256)


@dataclass(slots=True)
class Liveness:
    peer_timeout: float
    last_seen: dict[str, float] = field(default_factory=dict)  # session token -> time of the last sign of life
    holdings: dict[str, dict[HoldingKey, Holding]] = field(default_factory=dict)  # token -> what it holds
    holders: dict[HoldingKey, set[str]] = field(default_factory=dict)  # reverse index: key -> tokens

    def touch(self, token: str, now: float) -> None:
        self.last_seen[token] = now

    def report(self, token: str, now: float, holdings: dict[HoldingKey, Holding]) -> None:
        """A heartbeat: ``holdings`` replaces what the session held before."""
        self.touch(token, now)
        for key in self.holdings.get(token, {}):
            tokens = self.holders.get(key)
            if tokens is not None:
                tokens.discard(token)
                if not tokens:
                    del self.holders[key]
        self.holdings[token] = holdings
        for key in holdings:
            self.holders.setdefault(key, set()).add(token)

    def forget(self, token: str) -> None:
        self.report(token, 0.0, {})
        del self.holdings[token]
        self.last_seen.pop(token, None)

    def is_live(self, token: str | None, now: float) -> bool:
        if token is None:
            return False
        seen = self.last_seen.get(token)
        return seen is not None and now - seen < self.peer_timeout

    def holding(self, token: str, key: HoldingKey) -> tuple[bool, Holding]:
        """(reported, bits): whether the session's last heartbeat named the file, and what it said."""
        held = self.holdings.get(token)
        if held is None or key not in held:
            return False, None
        return True, held[key]

    def holders_of(self, key: HoldingKey) -> set[str]:
        return self.holders.get(key, set())
