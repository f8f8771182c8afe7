"""The tracker's frozen configuration, and the cluster secret file it needs."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tracker_server.passwords import OWASP_LOG2_N
from tracker_server.signups import DEFAULT_BURST, DEFAULT_INTERVAL
from tracker_server.write_rate import DEFAULT_WRITE_BURST, DEFAULT_WRITE_INTERVAL
from wire.tracker_list import TrackerAddress

SECRET_BYTES = 32


@dataclass(frozen=True)
class TrackerConfig:
    trackers: tuple[TrackerAddress, ...]
    tracker_no: int  # 1-based rank of this tracker in ``trackers``
    data_dir: Path
    secret: bytes
    peer_timeout: float = 15.0
    token_ttl: float = 300.0
    max_body: int = 1 << 20
    scrypt_log2_n: int = OWASP_LOG2_N
    # Replication (issue 5): how often trackers heartbeat each other and how long a silent primary is trusted.
    tracker_heartbeat: float = 0.5
    tracker_timeout: float = 2.0
    # Sign-ups per client address (signups.py says why these numbers): a burst, then one per interval seconds.
    signup_burst: int = DEFAULT_BURST
    signup_interval: float = DEFAULT_INTERVAL
    # Writes per user and logins per client address (write_rate.py), and password hashes one address may have
    # queued or running at once (hash_gate.py). The benchmarks raise them: one address sets up thousands of users.
    write_burst: int = DEFAULT_WRITE_BURST
    write_interval: float = DEFAULT_WRITE_INTERVAL
    hashes_per_address: int = 1
    # Log compaction (compaction.py says why these numbers): an entry is deleted once it is neither among the newest
    # ``log_keep_entries`` nor younger than ``log_keep_seconds``; the check runs every ``compact_every`` seconds.
    log_keep_entries: int = 10_000
    log_keep_seconds: float = 3600.0
    compact_every: float = 60.0
    clock: Callable[[], float] = field(default=time.time, compare=False)

    @property
    def me(self) -> TrackerAddress:
        return self.trackers[self.tracker_no - 1]

    @property
    def db_path(self) -> Path:
        return self.data_dir / "tracker.sqlite3"

    @property
    def heartbeat_interval(self) -> float:
        return max(self.peer_timeout / 3, 0.05)


def load_or_create_secret(path: Path) -> bytes:
    """Read the cluster secret; create it (32 random bytes, mode 0600) if no file exists yet.

    ``O_EXCL`` makes creation race-free when several trackers start at once: the loser reads the winner's file.
    """
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        for _ in range(50):  # the creator may not have written the bytes yet
            data = path.read_bytes()
            if data.strip():
                return data.strip()
            time.sleep(0.02)
        raise ValueError(f"secret file {path} is empty") from None
    with os.fdopen(fd, "wb") as out:
        out.write(os.urandom(SECRET_BYTES).hex().encode("ascii") + b"\n")
    return path.read_bytes().strip()
