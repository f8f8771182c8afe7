"""Fixing glibc's heap thresholds at start, so memory a thread frees goes back to the system.

glibc maps an allocation of its own above the *mmap threshold* and serves smaller ones from a heap (an arena), one
per thread that allocates; a heap gives memory back only from its top, once more than the *trim threshold* is free
there. Both thresholds move unless set: when a mapped block up to 32 MiB is freed, the mmap threshold rises to its
size and the trim threshold to twice that. A node's offline password check (``peer_node.login_state``: scrypt at
N=2^14, r=8) takes 16 MiB in an executor thread at every login. The first login's block is mapped and freed, which
raises the thresholds to 16 and 32 MiB; from then on each login's 16 MiB comes from the heap of whichever executor
thread runs it, and stays there, free, when the check is done: up to 16 MiB more for each of the default executor's
threads (6 on two cores). Plain downloads never log in, so they did not show it; a soak with logins did.

Measured (``bench/memory_soak.py``: downloads, pauses, resumes, cancels, tracker kills, a seeder leaving, a logout
and login every seventh cycle; bench/HISTORY.md): RSS 66 -> 209 MB in 20 minutes, most of it by the sixth, while
glibc had 14-33 MB in use, Python's traced memory stayed flat and a ``gc.collect()`` every 15 s changed nothing;
``malloc_info`` showed thread heaps of 16 MiB, each one free chunk. With the thresholds fixed at start the same
workload, in the same cluster, went 69 -> 93 MB.

The mmap threshold is fixed at 2 MiB, not glibc's initial 128 KiB: a piece server connection without TLS reads each
block (up to 1 MiB, ``wire.peer_protocol.MAX_BLOCK``) into a fresh buffer, and a fresh mapping costs that
megabyte's page faults on every block, where a heap block is reused. The trim threshold stays at glibc's default,
128 KiB: setting one threshold is what stops both from moving.
"""

from __future__ import annotations

import ctypes
import ctypes.util

M_MMAP_THRESHOLD = -3  # mallopt's parameter number (glibc's malloc.h)
MMAP_THRESHOLD = 2 << 20


def fix_malloc_thresholds(mmap_threshold: int = MMAP_THRESHOLD) -> bool:
    """Set glibc's mmap threshold (which also stops both thresholds from moving); False where the C library has
    no ``mallopt`` (macOS) or refuses the value. A process calls this once, at start."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, mmap_threshold))
