"""Login throttling per (account, address) pair, per address and per account: pure decisions over records.

Theory of operation. Four kinds of key, each a record in one dict (replicated on the tracker):

- ``p:<pair>``, one account from one address (an IPv6 address by its /64): the key that locks. Past
  ``free_per_account`` failures every failure locks the pair for a doubling delay (1 s, 2 s, 4 s ... up to
  ``max_delay``). An attacker guessing carol's password from one address locks only
  themselves out of carol.
- ``a:<address>``: one address spraying many accounts, locked the same way past ``free_per_address``.
- ``u:<user>``: the account-wide guard against guessing from many addresses. It counts failures from addresses
  that never logged in to the account, and each address only for its free failures (so one address alone cannot
  trip it), until the account has ``account_wide_free`` of them: from then on every such failure counts and locks
  the account, doubling, to ADDRESSES THAT NEVER LOGGED IN TO IT only.
- ``k:<pair>``: a pair that logged in successfully (kept ``remember_for``, refreshed at most once per
  ``refresh_known_after``). A known pair is judged by its own pair record only: neither the account guard nor its
  address's record refuses the owner at an address they have used before.

So a targeted attacker can deny the owner only at an address the attacker shares (one NAT, one IPv6 /64), or, with
several addresses of their own, at addresses the owner never used. SECURITY.md states the trade-off.

A locked key is refused with LoginLocked (429 ``login_locked``: a node tells the person at once rather than wait it
out) BEFORE the password is hashed, so a flood costs no scrypt time. A failure record quiet for ``forget_after``
starts from zero again; a successful login clears its pair's record (never the account's or the address's: logging
in must not buy more guesses, here or at other accounts). Attempts still
hashing count too (``in_flight``), so concurrent guesses cannot all slip past the check before the first failure is
recorded. Pairs are named by an HMAC of user and address under ``secret`` (the tracker's cluster key), so the
replicated records and the permanent log do not list which addresses each user logs in from.

Both programs use it: the tracker over records it replicates (``tracker_server/throttle.py``), a node over its
own, in memory, for the password check it makes while no tracker answers (``peer_node/login_state.py``; there is
no address there: the account key alone, as a plain doubling lock). A change of the records is an op
(``failure_op``, ``success_op``) applied by ``apply_records``, so the tracker can log it first.
Pure: no I/O, ``now`` is passed in.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import math
from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from wire.errors import LoginLocked
from wire.host_groups import host_group

PRUNE_SCAN = 32  # oldest records looked at (and dropped when stale) per recorded failure
ROTATE = 4  # of those, live ``k:`` records moved to the back, so they never hide stale records behind them
REFUSED = "too many failed logins; try again in {} s"  # the wait: a script at /cmd has no Retry-After to read


@dataclass(frozen=True, slots=True)
class ThrottlePolicy:
    # One client's free failures at one account: the pair's on the tracker; the account key's where there are no
    # addresses (a node's own check).
    free_per_account: int = 5
    # The account-wide guard (with addresses): failures from addresses that never logged in to it, at most
    # ``free_per_account`` counted from each, before it locks them out: four addresses' worth.
    account_wide_free: int = 20
    free_per_address: int = 20
    base_delay: float = 1.0
    max_delay: float = 900.0
    forget_after: float = 3600.0
    remember_for: float = 30 * 86400.0  # how long a successful (account, address) pair stays known
    refresh_known_after: float = 86400.0  # a known pair's record is rewritten at most this often


@dataclass(frozen=True, slots=True)
class Failures:
    """One key's record: failures counted so far, when the last one was, and until when the key is locked.
    (A ``k:`` record: count 0, ``last_at`` the last successful login it was refreshed at.)"""

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
    """``a:<host>``: IPv6 addresses by their /64 (``host_groups``: one host usually holds a whole /64)."""
    return f"a:{host_group(address)}"


def pair_key(user_id: str, address: str, secret: bytes) -> str:
    """``p:<hmac>`` of one account from one address (by ``address_key``: an IPv6 /64)."""
    message = f"login-pair\n{user_id}\n{address_key(address)}".encode()
    return "p:" + hmac.new(secret, message, hashlib.sha256).hexdigest()[:32]


def known_key(pair: str) -> str:
    return "k:" + pair[2:]


def apply_records(records: dict[str, Failures], op: Mapping[str, Any]) -> None:
    """Apply a decided ``login_fail`` op (``{"rec": {key: [count, last_at, locked_until]}, "drop": [key]}``).

    A key is moved to the end when updated, so the dict runs from the least recently updated key: ``failure_op``
    finds stale records to drop at its front without scanning them all."""
    for key in op.get("drop", ()):
        records.pop(key, None)
    for key, value in op["rec"].items():
        records.pop(key, None)
        records[key] = Failures.from_json(value)


class LoginThrottle:
    """The policy over ``records`` (the state's dict, shared: replicated entries update it underneath us)."""

    def __init__(self, records: dict[str, Failures], policy: ThrottlePolicy | None = None,
                 secret: bytes = b"") -> None:
        self.records = records
        self.policy = policy or ThrottlePolicy()
        self.secret = secret
        self._in_flight: Counter[str] = Counter()

    def keys(self, user_id: str, address: str) -> list[str]:
        """The account's key, and with an address, the address's and the pair's."""
        keys = [account_key(user_id)]
        if address:
            keys += [address_key(address), pair_key(user_id, address, self.secret)]
        return keys

    def failure_id(self, op_id: str, user_id: str, password: str) -> str:
        """The op_id of a failed attempt's record. The same for every copy of one attempt (a node that asked another
        tracker too, the first being slow, sends both the same op_id and password), so it counts once; another for
        any other password, so an op_id sent again never buys an uncounted guess. Keyed (``secret``), so that the
        permanent log holds nothing to test passwords against."""
        attempt = json.dumps([op_id, user_id, password]).encode()
        return "login-fail." + hmac.new(self.secret, attempt, hashlib.sha256).hexdigest()[:32]

    def _free(self, key: str, paired: bool) -> int:
        if key.startswith("u:"):
            return self.policy.account_wide_free if paired else self.policy.free_per_account
        return self.policy.free_per_account if key.startswith("p:") else self.policy.free_per_address

    def _stale(self, key: str, record: Failures, now: float) -> bool:
        life = self.policy.remember_for if key.startswith("k:") else self.policy.forget_after
        return now - record.last_at > life

    def _current(self, key: str, now: float) -> int:
        record = self.records.get(key)
        if record is None or self._stale(key, record, now):
            return 0
        return record.count

    @staticmethod
    def _pair(keys: list[str]) -> str | None:
        return next((key for key in keys if key.startswith("p:")), None)

    def known(self, keys: list[str], now: float) -> bool:
        """Whether this pair (account, address) has logged in successfully within ``remember_for``."""
        pair = self._pair(keys)
        record = None if pair is None else self.records.get(known_key(pair))
        return record is not None and not self._stale(known_key(str(pair)), record, now)

    def retry_after(self, keys: list[str], now: float) -> float | None:
        """Seconds to wait if any key that applies is locked (or saturated by attempts still being checked)."""
        known, paired = self.known(keys, now), self._pair(keys) is not None
        wait = 0.0
        for key in keys:
            if known and not key.startswith("p:"):
                continue  # a known pair answers for its own failures only (the owner at their usual address)
            record = self.records.get(key)
            if record is not None and record.locked_until > now:
                wait = max(wait, record.locked_until - now)
            elif self._in_flight[key] and self._current(key, now) + self._in_flight[key] >= self._free(key, paired):
                wait = max(wait, self.policy.base_delay)
        return wait or None

    def check(self, keys: list[str], now: float) -> None:
        wait = self.retry_after(keys, now)
        if wait is not None:
            raise LoginLocked(REFUSED.format(math.ceil(wait)), retry_after=math.ceil(wait))

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

    def _counted(self, keys: list[str], now: float) -> list[str]:
        """The keys one more failure counts on. The account's, with a pair, only for an unknown pair within its
        free failures, or once the account is past its own (see the module's docstring)."""
        pair = self._pair(keys)
        if pair is None:
            return keys
        account = [key for key in keys if key.startswith("u:")]
        spare = self._current(pair, now) < self.policy.free_per_account
        tripped = bool(account) and self._current(account[0], now) >= self.policy.account_wide_free
        if self.known(keys, now) or not (spare or tripped):
            return [key for key in keys if not key.startswith("u:")]
        return keys

    def failure_op(self, keys: list[str], now: float) -> dict[str, Any]:
        """The decided op of one more failure (count, and the lock it earns past the free ones)."""
        rec: dict[str, list[float]] = {}
        paired = self._pair(keys) is not None
        for key in self._counted(keys, now):
            count = self._current(key, now) + 1
            over = count - self._free(key, paired)
            locked = now + min(self.policy.base_delay * 2 ** min(over, 40), self.policy.max_delay) if over >= 0 else 0.0
            rec[key] = Failures(count, now, locked).to_json()
        # Every failure also forgets a few stale records (a failure record is stale once quiet for
        # ``forget_after``, already unlocked: the longest lock is shorter), so keys sprayed once do not pile up on
        # every tracker for ever; a live ``k:`` record found there goes to the back, so the front moves on.
        drop: list[str] = []
        rotated = 0
        for key, record in itertools.islice(self.records.items(), PRUNE_SCAN):
            if key in rec:
                continue
            if self._stale(key, record, now):
                drop.append(key)
            elif key.startswith("k:") and rotated < ROTATE:
                rec[key] = record.to_json()
                rotated += 1
        return {"rec": rec, "drop": drop}

    def success_op(self, keys: list[str], now: float) -> dict[str, Any] | None:
        """The op remembering a successful login's pair as known, or None if it is known and fresh enough."""
        pair = self._pair(keys)
        if pair is None:
            return None
        record = self.records.get(known_key(pair))
        if record is not None and now - record.last_at < self.policy.refresh_known_after:
            return None
        return {"rec": {known_key(pair): Failures(0, now, 0.0).to_json()}, "drop": []}

    def clear_on_success(self, keys: list[str]) -> list[str]:
        """Keys a successful login clears: its pair's record (with no address, as on a node: the account's)."""
        key = self._pair(keys) or keys[0]
        return [key] if key in self.records else []
