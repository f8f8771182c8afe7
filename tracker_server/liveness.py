"""Soft state: which sessions are live and which pieces each reports holding. Memory only, never logged.

Theory of operation: a peer's heartbeat stamps its session with ``now`` and replaces its holdings. A session is
live while ``|now - last_seen| < peer_timeout`` (a clock stepped back counts as far as one stepped on). Sessions
known at start (after a restart or failover) get a grace stamp of the start time, so a tracker restart neither
shows everyone offline nor lets a second node steal a login during the first heartbeat interval. Pure: ``now`` is
passed in.

Two change counters let readers cache what they derive from this (``listing_cache.py``): ``version`` moves when
a session may have become live (a stamp on a session that was not live at that moment, a stamp moving back in
time, a grace stamp), was forgotten, or was heard for the first time (until then its recorded shares count on
trust, see ``sharer_holds``); ``group_version[g]`` moves when a heartbeat changes, for a file of group
``g``, what kind of holding a session reports (none, "all" or a bitfield). A session going dead by the clock
moves neither: a cached answer carries the stamp of the first session it counted that will expire instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field

Holding = bytes | None  # a bitfield, or None for "all"
HoldingKey = tuple[str, str]  # (group_id, file_sha256)
_ABSENT = object()


def _kind(held: object) -> int:
    """0: not reported, 1: the whole file, 2: some pieces (a new bitfield for the same kind changes no count)."""
    return 0 if held is _ABSENT else 1 if held is None else 2


@dataclass(slots=True)
class Liveness:
    peer_timeout: float
    last_seen: dict[str, float] = field(default_factory=dict)  # session token -> time of the last sign of life
    holdings: dict[str, dict[HoldingKey, Holding]] = field(default_factory=dict)  # token -> what it holds
    holders: dict[HoldingKey, set[str]] = field(default_factory=dict)  # reverse index: key -> tokens
    version: int = 0
    group_version: dict[str, int] = field(default_factory=dict)
    # Sessions whose node said goodbye (a clean stop): offline at once, and when it was last heard, for members
    # to see ("last seen 2 min ago", not "never"). Its next heartbeat takes it out again.
    departed: dict[str, float] = field(default_factory=dict)

    def touch(self, token: str, now: float) -> None:
        """Stamp ``token`` live at ``now``, which callers pass as the current time (else see ``stamped``)."""
        seen = self.last_seen.get(token)
        if seen is None or seen > now or not self._fresh(seen, now):
            self.version += 1  # it was not live at ``now`` (or its stamp goes back): it may count anew
        self.last_seen[token] = now
        self.departed.pop(token, None)

    def stamped(self) -> None:
        """After stamps older than the current time (grace at start or failover): they may revive a session
        that a cached answer saw dead, which ``touch`` cannot tell without the current time."""
        self.version += 1

    def report(self, token: str, now: float, holdings: dict[HoldingKey, Holding]) -> None:
        """A heartbeat: ``holdings`` replaces what the session held before."""
        self.touch(token, now)
        old = self.holdings.get(token)
        if old == holdings:  # the steady state: a peer repeats what it said last time
            return
        if old is None:  # its first word since this tracker took office: its shares no longer count on trust
            self.version += 1
        old = old or {}
        for key in old.keys() | holdings.keys():
            if _kind(old.get(key, _ABSENT)) != _kind(holdings.get(key, _ABSENT)):
                self.group_version[key[0]] = self.group_version.get(key[0], 0) + 1
        for key in old:
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
        self.departed.pop(token, None)
        self.version += 1

    def went_offline(self, token: str, now: float) -> None:
        """The session's node stopped cleanly at ``now``: no longer live nor holding anything, last seen ``now``."""
        self.forget(token)
        self.departed[token] = now

    def seen_at(self, token: str) -> float | None:
        """When the session was last heard (a heartbeat, or its node's goodbye); None: never by this tracker."""
        return self.last_seen.get(token, self.departed.get(token))

    def tokens(self) -> list[str]:
        """Every session this soft state knows of, live, timed out or departed."""
        return [*self.last_seen, *self.departed]

    def is_live(self, token: str | None, now: float) -> bool:
        if token is None:
            return False
        seen = self.last_seen.get(token)
        return seen is not None and self._fresh(seen, now)

    def _fresh(self, seen: float, now: float) -> bool:
        """Whether a stamp at ``seen`` is live at ``now``. Wall-clock time, stepped back as well as on (NTP, a VM
        restored): a stamp now in the future is live only within ``peer_timeout`` of it, else a node that died
        just before a step back of an hour counted as live (its user locked out of other nodes) for that hour.
        A live node's next heartbeat stamps it anew."""
        return abs(now - seen) < self.peer_timeout

    def holding(self, token: str, key: HoldingKey) -> tuple[bool, Holding]:
        """(reported, bits): whether the session's last heartbeat named the file, and what it said."""
        held = self.holdings.get(token)
        if held is None or key not in held:
            return False, None
        return True, held[key]

    def sharer_holds(self, token: str, key: HoldingKey) -> tuple[bool, Holding]:
        """(holds, bits) for a session whose user has the file recorded as shared. What its last heartbeat said,
        if it named the file; a heartbeat that did not name it means the node does not serve it now (its data dir
        was lost, its copy changed) however the record reads. Only a session not heard since this tracker took
        office (a restart, a failover) is trusted on the record alone, as holding the whole file."""
        held = self.holdings.get(token)
        if held is None:
            return True, None
        if key not in held:
            return False, None
        return True, held[key]

    def add_whole(self, token: str, key: HoldingKey, now: float) -> None:
        """A share just recorded for a session already heard from: it holds the file, as its next heartbeat
        (sent at once) will say; counting it now keeps the file listed meanwhile."""
        held = self.holdings.get(token)
        if held is not None and held.get(key, _ABSENT) is not None:
            self.report(token, now, {**held, key: None})

    def holders_of(self, key: HoldingKey) -> set[str]:
        return self.holders.get(key, set())
