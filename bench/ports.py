"""Loopback ports for the processes the bench and the tests start.

Why not ``bind(("127.0.0.1", 0))``: the kernel hands that port out of its ephemeral range, and between closing the
probe and the child process binding it, any outgoing connection on the machine may be given the same number as
its local port (a test run opens tens of thousands). The child then fails with "address already in use". Ports
below the ephemeral range are never given to outgoing connections, so only another listener could take one; we
pick at random there, probe it, and never hand the same port out twice in one process.

Why a share of the range per test worker (``make test`` runs pytest-xdist): "never twice" holds within one process
only. Two workers picking from one range could each take the same port: one's child binding it after the other's
probe, or a port held unbound on purpose (a tracker listed but down, one stopped to be started again) going to the
other worker's process, which a node of the first test then reaches instead of a tracker. Each worker picks from a
share of its own (``worker_share``), so no port is handed out by two of them.
"""

from __future__ import annotations

import os
import random
import socket
from pathlib import Path

_RANGE_FILE = Path("/proc/sys/net/ipv4/ip_local_port_range")
_LOWEST = 10_000  # below this live well-known services (and our own default ports: 8080, 6881...)
_handed_out: set[int] = set()


def pick_range(range_text: str | None) -> tuple[int, int] | None:
    """The ports below the ephemeral range ``"low high"``, or None when that leaves too few to pick from."""
    try:
        ephemeral_low = int(range_text.split()[0]) if range_text else 32768
    except (ValueError, IndexError):
        ephemeral_low = 32768
    if ephemeral_low - _LOWEST < 2_000:
        return None
    return _LOWEST, ephemeral_low - 1


def worker_share(bounds: tuple[int, int], worker: str | None, count: str | None) -> tuple[int, int]:
    """The part of ``bounds`` that is pytest-xdist worker ``worker``'s (``gw0``, ``gw1``...) of ``count``: the
    range cut in ``count`` equal slices, one each. Outside xdist (either None), or with values it did not set
    (unreadable), the whole of ``bounds``."""
    if worker is None or count is None:
        return bounds
    try:
        no, workers = int(worker.removeprefix("gw")), int(count)
    except ValueError:
        return bounds
    width = (bounds[1] - bounds[0] + 1) // workers if workers > 0 else 0
    if not 0 <= no < workers or width < 1:
        return bounds
    return bounds[0] + no * width, bounds[0] + (no + 1) * width - 1


def _probe(port: int) -> bool:
    """True when a listener could bind ``port`` now (SO_REUSEADDR as servers use it, so TIME_WAIT does not count)."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now and that outgoing connections will not take."""
    try:
        text: str | None = _RANGE_FILE.read_text()
    except OSError:
        text = None
    bounds = pick_range(text)
    if bounds is not None:
        bounds = worker_share(bounds, os.environ.get("PYTEST_XDIST_WORKER"),
                              os.environ.get("PYTEST_XDIST_WORKER_COUNT"))
        for _ in range(200):
            port = random.randint(*bounds)
            if port not in _handed_out and _probe(port):
                _handed_out.add(port)
                return port
    with socket.socket() as s:  # an unusual kernel setting: fall back to the OS's pick
        s.bind(("127.0.0.1", 0))
        chosen: int = s.getsockname()[1]
    _handed_out.add(chosen)
    return chosen
