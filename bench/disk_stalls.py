"""How long the disk under the bench's files sat stalled during a timed download: busy, yet completing nothing.

Why: on the virtual disk of the bench machine a direct write sometimes waits 0.25-2 s with the device busy and
nothing completing, whoever writes (a bare writer with no network and no hashing sees the same), after roughly
0.6-0.9 GB of fast writing and also after a long rest. A 1 GiB download that meets such a stall loses a quarter to
a third of its speed: the same code gave 370 MB/s in a run without one and 230-280 MB/s in runs with one, minutes
apart. libtorrent writes into the page cache and the bench deletes its copy before the kernel writes it back, so
its timed window never meets the device. Reporting the stalled seconds next to each run lets a reader tell the
code from the disk (bench/HISTORY.md, twelfth session). What the stalls were (fourteenth session): the virtual disk
is a write-back cache on the host (an fsync after 1 GiB of direct writes takes 1.6-1.9 s), and a request that has
to wait for the host's writeback holds up every other; most were discards that our own download's state-file
renames sent, 4 KiB each, four a second, and none has reached a swarm download since the state is rewritten in
place.

Theory of operation: ``/proc/diskstats`` is read every ``PERIOD`` in a thread. An interval counts as stalled when
the device was busy through it (``io_ticks`` advanced by at least ``BUSY`` of it) and no read, write, discard or
flush completed; only stretches of at least ``MIN_STRETCH`` are summed, so ordinary queueing does not count.
Parsing and summing are pure (:func:`parse_line`, :func:`stalled_seconds`); :class:`StallMeter` does the I/O.
"""

from __future__ import annotations

import itertools
import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

PERIOD = 0.05
BUSY = 0.9
MIN_STRETCH = 0.2
DISKSTATS = Path("/proc/diskstats")


@dataclass(frozen=True)
class DiskSample:
    at: float  # seconds, any monotonic clock
    completed: int  # reads + writes + discards + flushes completed so far
    busy_ms: int  # io_ticks: milliseconds the device had requests in flight


def parse_line(line: str, at: float) -> tuple[int, int, DiskSample] | None:
    """(major, minor, sample) from one ``/proc/diskstats`` line, or None if it is not one. Fields after the
    name: reads, reads merged, sectors, ms, writes, ... (Documentation/admin-guide/iostats.rst); discards (from
    Linux 4.18) and flushes (5.5) are counted when the line has them."""
    f = line.split()
    if len(f) < 14 or not (f[0].isdigit() and f[1].isdigit()):
        return None
    try:
        n = [int(x) for x in f[3:]]
    except ValueError:
        return None
    completed = n[0] + n[4] + (n[11] if len(n) > 11 else 0) + (n[15] if len(n) > 15 else 0)
    return int(f[0]), int(f[1]), DiskSample(at, completed, n[9])


def stalled_seconds(samples: Sequence[DiskSample], min_stretch: float = MIN_STRETCH, busy: float = BUSY) -> float:
    """Seconds, in stretches of at least ``min_stretch``, when the device was busy and completed nothing."""
    total = stretch = 0.0
    for before, after in itertools.pairwise(samples):
        span = after.at - before.at
        busy_through = after.busy_ms - before.busy_ms >= busy * span * 1000
        if span > 0 and after.completed == before.completed and busy_through:
            stretch += span
            continue
        if stretch >= min_stretch:
            total += stretch
        stretch = 0.0
    return total + (stretch if stretch >= min_stretch else 0.0)


def device_of(path: Path) -> tuple[int, int] | None:
    """(major, minor) of the block device holding ``path``, or None (tmpfs, overlay: no device to watch)."""
    dev = os.stat(path).st_dev
    major, minor = os.major(dev), os.minor(dev)
    return None if major == 0 else (major, minor)


def read_sample(device: tuple[int, int]) -> DiskSample | None:
    at = time.monotonic()
    try:
        text = DISKSTATS.read_text()
    except OSError:
        return None
    for line in text.splitlines():
        parsed = parse_line(line, at)
        if parsed is not None and parsed[:2] == device:
            return parsed[2]
    return None


class StallMeter:
    """Samples the disk holding ``path`` from ``start`` to ``stop``; ``stop`` returns the stalled seconds, or
    None when there is no block device to watch (then nothing is sampled)."""

    def __init__(self, path: Path, period: float = PERIOD) -> None:
        self.device = device_of(path)
        self.period = period
        self.samples: list[DiskSample] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _take(self) -> bool:
        sample = read_sample(self.device) if self.device is not None else None
        if sample is not None:
            self.samples.append(sample)
        return sample is not None

    def start(self) -> StallMeter:
        if self._take():
            self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.period):
            self._take()

    def stop(self) -> float | None:
        if not self._thread.is_alive():
            return None
        self._stop.set()
        self._thread.join()
        self._take()
        return stalled_seconds(self.samples)
