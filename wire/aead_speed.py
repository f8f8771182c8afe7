"""Which AEAD this machine seals faster, AES-256-GCM or AES-256-OCB3: what its HELLOs say it prefers.

Measured, not guessed from CPU flags: what decides it is the OpenSSL build as much as the cores (with VAES and
VPCLMULQDQ, OpenSSL's GCM ran at 10.5 GB/s against OCB3's 7.0; without VAES, OCB3 at 3.7 against GCM's 2.6).
Timed once per process, the best of a few rounds each (a round preempted by another process only loses), over
256 KiB: about 2 ms in all on the bench's cores. GCM must win by a margin, so that two builds of near-equal
speed keep OCB3 rather than flip between runs.
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable

from wire.bulk_records import Aead, new_cipher

SAMPLE = 256 * 1024
ROUNDS = 5
MARGIN = 0.9  # GCM is preferred when it takes at most this share of OCB3's time


def best_time(seal: Callable[[], object], rounds: int = ROUNDS) -> float:
    """The shortest of ``rounds`` timings of ``seal()``, after one untimed call (warms the key schedule)."""
    seal()
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        seal()
        best = min(best, time.perf_counter() - start)
    return best


def prefer(gcm_seconds: float, ocb3_seconds: float) -> Aead:
    return Aead.GCM if gcm_seconds <= MARGIN * ocb3_seconds else Aead.OCB3


@functools.cache
def preferred_aead() -> Aead:
    """The AEAD this process's OpenSSL seals faster, measured on first use."""
    data, out, nonce = os.urandom(SAMPLE), bytearray(SAMPLE + 16), bytes(12)

    def seal_time(aead: Aead) -> float:
        cipher = new_cipher(aead, os.urandom(32))
        return best_time(lambda: cipher.encrypt_into(nonce, data, None, out))

    return prefer(seal_time(Aead.GCM), seal_time(Aead.OCB3))
