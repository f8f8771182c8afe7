"""Login throttling per account and per client address: pure decisions over failure records.

Two keys are counted: ``u:<user>`` (an attacker on many addresses guessing one password) and ``a:<address>`` (one
address spraying many accounts; an IPv6 address counts by its /64). Each key has some free failures; past them
every failure locks the key for a doubling delay (1 s, 2 s, 4 s ... capped), and a locked key is refused with
TooManyRequests BEFORE the password is hashed, so a flood costs no scrypt time. A key quiet for ``forget_after``
starts from zero again; a successful login clears its account key (never its address key: logging in to one's own
account must not buy more guesses at others). Attempts still hashing count too (``in_flight``), so a burst of
concurrent guesses cannot all slip past the check before the first failure is recorded.

Both programs use it: the tracker over records it replicates (``tracker_server/throttle.py``), a node over its
own, in memory, for the password check it makes while no tracker answers (``peer_node/login_state.py``).
A failure is an op (``failure_op``) applied by ``apply_records``, so the tracker can log it first.
Pure: no I/O, ``now`` is passed in.
"""

from __future__ import annotations

import ipaddress
import itertools
import math
from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from wire.errors import TooManyRequests

PRUNE_SCAN = 32  # oldest records looked at (and dropped when stale) per recorded failure


@dataclass(frozen=True, slots=True)
class ThrottlePolicy:
    free_per_account: int = 5
    free_per_address: int = 20
    base_delay: float = 1.0
    max_delay: float = 900.0
    forget_after: float = 3600.0


@dataclass(frozen=True, slots=True)
class Failures:
    """One key's record: failures counted so far, when the last one was, and until when the key is locked."""

    count: int
    last_at: float
    locked_until: float

    def to_json(self) -> list[float]:
        return [self.count, self.last_at, self.locked_until]

    @classmethod
    def from_json(cls, data: Any) -> Failures:
        count, last_at, locked_until = data
        return cls(int(count), float(last_at), float(locked_until))


def account_key(user_id: str) -> str:
    return f"u:{user_id}"


def address_key(address: str) -> str:
    """``a:<ip>``; IPv6 addresses by their /64 (one host usually holds a whole /64)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return f"a:{address[:100]}"
    if ip.version == 6 and ip.ipv4_mapped is None:
        return f"a:{ipaddress.ip_network(f'{ip}/64', strict=False)}"
    return f"a:{ip.ipv4_mapped or ip}" if ip.version == 6 else f"a:{ip}"


def apply_records(records: dict[str, Failures], op: Mapping[str, Any]) -> None:
    """Apply a decided ``login_fail`` op (``{"rec": {key: [count, last_at, locked_until]}, "drop": [key]}``).

    A key is moved to the end when updated, so the dict runs from the least recently failed key: ``failure_op``
    finds stale records to drop at its front without scanning them all."""
    for key in op.get("drop", ()):
        records.pop(key, None)
    for key, value in op["rec"].items():
        records.pop(key, None)
        records[key] = Failures.from_json(value)


class LoginThrottle:
    """The policy over ``records`` (the state's dict, shared: replicated entries update it underneath us)."""

    def __init__(self, records: dict[str, Failures], policy: ThrottlePolicy | None = None) -> None:
        self.records = records
        self.policy = policy or ThrottlePolicy()
        self._in_flight: Counter[str] = Counter()

    def keys(self, user_id: str, address: str) -> list[str]:
        keys = [account_key(user_id)]
        if address:
            keys.append(address_key(address))
        return keys

    def _free(self, key: str) -> int:
        return self.policy.free_per_account if key.startswith("u:") else self.policy.free_per_address

    def _current(self, key: str, now: float) -> int:
        record = self.records.get(key)
        if record is None or now - record.last_at > self.policy.forget_after:
            return 0
        return record.count

    def retry_after(self, keys: list[str], now: float) -> float | None:
        """Seconds to wait if any key is locked (or saturated by attempts still being checked), else None."""
        wait = 0.0
        for key in keys:
            record = self.records.get(key)
            if record is not None and record.locked_until > now:
                wait = max(wait, record.locked_until - now)
            elif self._in_flight[key] and self._current(key, now) + self._in_flight[key] >= self._free(key):
                wait = max(wait, self.policy.base_delay)
        return wait or None

    def check(self, keys: list[str], now: float) -> None:
        wait = self.retry_after(keys, now)
        if wait is not None:
            raise TooManyRequests("too many failed logins; wait and try again", retry_after=math.ceil(wait))

    @contextmanager
    def attempt(self, keys: list[str]) -> Iterator[None]:
        """Count an attempt as in flight while its password is being hashed."""
        self._in_flight.update(keys)
        try:
            yield
        finally:
            self._in_flight.subtract(keys)
            for key in keys:
                if self._in_flight[key] <= 0:
                    del self._in_flight[key]

    def failure_op(self, keys: list[str], now: float) -> dict[str, Any]:
        """The decided op of one more failure on every key (count, and the lock it earns past the free ones)."""
        rec: dict[str, list[float]] = {}
        for key in keys:
            count = self._current(key, now) + 1
            over = count - self._free(key)
            locked = now + min(self.policy.base_delay * 2 ** min(over, 40), self.policy.max_delay) if over >= 0 else 0.0
            rec[key] = Failures(count, now, locked).to_json()
        # Every failure also forgets a few records quiet for ``forget_after`` (already unlocked: the longest lock
        # is shorter), so keys sprayed once do not pile up on every tracker for ever.
        drop = [key for key, record in itertools.islice(self.records.items(), PRUNE_SCAN)
                if now - record.last_at > self.policy.forget_after and key not in rec]
        return {"rec": rec, "drop": drop}

    def clear_on_success(self, user_id: str) -> list[str]:
        """Keys a successful login of ``user_id`` clears (its account key, if it has a record)."""
        key = account_key(user_id)
        return [key] if key in self.records else []
