"""What the node keeps on disk about its login, beside the session itself (``state.py``).

1. The fingerprint its session was opened with (``session-fingerprint``): a node restarted with the other
   ``--no-tls`` setting (or a new identity) would be listed by the tracker with the old fingerprint and every peer
   connection would fail, so such a session is dropped at start.
2. Its own check of its user's password, for the browser while no tracker answers (``login-check.json``):

   a browser logs in to a node by the tracker checking the password. While the cluster is away (a failover, a
restart, a laptop offline) that locked the user out of their own node's pages: the downloads, the shares, the upload
limit, all of it local. So at each login the node keeps a slow salted hash of the password (scrypt, 2^14, as the
tracker's own hashing but lighter: it runs on the user's machine), and only when no tracker answers, and only for
the user the node already acts for, the browser login is checked against it. A wrong password is refused; with no
hash kept (logged in before this existed) the tracker's absence is said as before.

What it exposes: the hash sits in the data directory (0600, in a 0700 directory), beside the API key that already
gives whoever can read it full control of the node. It is removed at logout. Guesses at it are throttled as the
tracker throttles logins (``OfflineCheck``: 5 free failures, then 1 s, 2 s, 4 s ... up to 15 min), or another local
user could guess the password at scrypt's pace whenever the tracker is away. The count is kept in memory: whoever
can restart the node can read its API key anyway.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Callable
from pathlib import Path

from peer_node.data_files import write_atomic
from wire.login_throttle import LoginThrottle, account_key, apply_records

CHECK_FILE = "login-check.json"
FINGERPRINT_FILE = "session-fingerprint"
_N, _R, _P = 2**14, 8, 1


def record_fingerprint(data_dir: Path, fingerprint: str) -> None:
    (data_dir / FINGERPRINT_FILE).write_text(fingerprint + "\n", encoding="ascii")


def fingerprint_matches(data_dir: Path, fingerprint: str) -> bool:
    """Whether the persisted session was opened with ``fingerprint`` (see the module's first point)."""
    try:
        recorded = (data_dir / FINGERPRINT_FILE).read_text(encoding="ascii").strip()
    except FileNotFoundError:
        recorded = ""  # sessions from before the node used TLS registered no fingerprint
    except (OSError, UnicodeDecodeError):
        return False
    return recorded == fingerprint


def _hash(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(password.encode("utf-8", "surrogateescape"), salt=salt, n=n, r=r, p=p, dklen=32,
                          maxmem=64 * 1024 * 1024)


def remember(data_dir: Path, user_id: str, password: str) -> None:
    """Blocking (a hash and a write): keep the check of ``user_id``'s password, which the tracker just accepted."""
    salt = secrets.token_bytes(16)
    doc = {"user_id": user_id, "n": _N, "r": _R, "p": _P, "salt": salt.hex(),
           "hash": _hash(password, salt, _N, _R, _P).hex()}
    write_atomic(data_dir / CHECK_FILE, json.dumps(doc).encode("utf-8"))


def forget(data_dir: Path) -> None:
    (data_dir / CHECK_FILE).unlink(missing_ok=True)


def matches(data_dir: Path, user_id: str, password: str) -> bool | None:
    """Blocking: whether ``password`` is ``user_id``'s as last accepted here; None when no check is kept for them."""
    try:
        doc = json.loads((data_dir / CHECK_FILE).read_text(encoding="utf-8"))
        if doc.get("user_id") != user_id:
            return None
        n, r, p = int(doc["n"]), int(doc["r"]), int(doc["p"])
        if not (2 <= n <= 2**20 and 1 <= r <= 16 and 1 <= p <= 4):
            return None  # not what we write: a hostile or damaged file must not cost minutes of hashing
        salt, expected = bytes.fromhex(doc["salt"]), bytes.fromhex(doc["hash"])
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    return hmac.compare_digest(_hash(password, salt, n, r, p), expected)


class OfflineCheck:
    """``matches``, its failures throttled (the module's last paragraph). Callers take one at a time (the node's
    login lock)."""

    def __init__(self, data_dir: Path, clock: Callable[[], float] = time.monotonic) -> None:
        self.data_dir = data_dir
        self.clock = clock
        self.throttle = LoginThrottle({})

    async def matches(self, user_id: str, password: str) -> bool | None:
        """As ``matches``; raises LoginLocked, before any hashing, while too many wrong passwords lock it."""
        keys = [account_key(user_id)]
        self.throttle.check(keys, self.clock())
        known = await asyncio.to_thread(matches, self.data_dir, user_id, password)
        if known is False:
            apply_records(self.throttle.records, self.throttle.failure_op(keys, self.clock()))
        elif known:
            for key in self.throttle.clear_on_success(keys):
                del self.throttle.records[key]
        return known
