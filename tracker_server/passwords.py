"""Password hashing: scrypt at OWASP parameters (N=2**17, r=8, p=1), run in a thread so the loop never blocks.

Stored form: ``scrypt$<log2 N>$<r>$<p>$<salt hex>$<hash hex>``, so a hash made with other parameters (tests use a
small N) still verifies. Each hash needs 128*N*r bytes of memory (128 MiB at N=2**17): a semaphore bounds how many
run at once, and a ``HashGate`` decides, before anything queues, whether a request may wait for one at all (one per
client address, a bounded queue: ``hash_gate.py``). ``verify`` for an unknown user hashes against a dummy so both
refusals take the same time. The hash functions are injectable (``hash_fn``, ``verify_fn``): tests hold a hash
in flight with a fake one rather than timing real scrypt.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import os
from collections.abc import Callable

from tracker_server.hash_gate import HashGate

OWASP_LOG2_N = 17
MAX_LOG2_N = 20  # the largest N a stored hash may name (what we write is 17; tests use 10)
_R, _P, _DKLEN = 8, 1, 32


def _scrypt(password: str, salt: bytes, log2_n: int, r: int, p: int) -> bytes:
    n = 1 << log2_n
    return hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=r, p=p, maxmem=256 * n * r, dklen=_DKLEN)


def _hash_sync(password: str, log2_n: int) -> str:
    salt = os.urandom(16)
    digest = _scrypt(password, salt, log2_n, _R, _P)
    return f"scrypt${log2_n}${_R}${_P}${salt.hex()}${digest.hex()}"


def _verify_sync(password: str, stored: str) -> bool:
    """Whether ``password`` matches ``stored``; False, never an exception, for a stored form that is not ours (a
    damaged row must cost a refused login, not a 500 or minutes of hashing)."""
    try:
        scheme, log2_n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt" or not (1 <= int(log2_n) <= MAX_LOG2_N and 1 <= int(r) <= 16 and 1 <= int(p) <= 4):
            return False
        expected = bytes.fromhex(digest)
        got = _scrypt(password, bytes.fromhex(salt), int(log2_n), int(r), int(p))
    except ValueError:
        return False
    return hmac.compare_digest(got, expected)


HashFn = Callable[[str, int], str]
VerifyFn = Callable[[str, str], bool]


class PasswordHasher:
    """Hashes and verifies off the event loop; at most two scrypt computations at once (memory bound), and only
    what ``gate`` admits may wait for them."""

    def __init__(self, log2_n: int = OWASP_LOG2_N, *, gate: HashGate | None = None, hash_fn: HashFn = _hash_sync,
                 verify_fn: VerifyFn = _verify_sync) -> None:
        self.log2_n = log2_n
        self.gate = gate or HashGate()
        self._hash_fn = hash_fn
        self._verify_fn = verify_fn
        self._limit = asyncio.Semaphore(2)

    async def hash(self, password: str, client: str = "", admitted: Callable[[], None] | None = None) -> str:
        """A new hash of ``password``; refused at once (429/503) when ``client`` or the queue is full. ``admitted``
        runs once the gate let it through: a charge (a sign-up token) that a refusal here must not cost."""
        with self.gate.admit(client):
            if admitted is not None:
                admitted()
            async with self._limit:
                return await asyncio.to_thread(self._hash_fn, password, self.log2_n)

    async def verify(self, password: str, stored: str | None, client: str = "") -> bool:
        """True if ``password`` matches ``stored``; with ``stored`` None (unknown user) do the same work, say no."""
        with self.gate.admit(client):
            async with self._limit:
                if stored is None:
                    await asyncio.to_thread(self._hash_fn, password, self.log2_n)
                    return False
                return await asyncio.to_thread(self._verify_fn, password, stored)
