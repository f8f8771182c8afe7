"""Shared state of one bench invocation: sizes (full or quick), run count, the temp dir and its test files.

Every file lives under one ``/tmp/gs-bench-*`` directory made at start and removed at the end, whatever
happens; test files are made once per invocation and reused by the scenarios that need them.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from bench.datafiles import make_random_file, make_sparse_file
from bench.model import GiB, MiB, Timing, describe


@dataclass(frozen=True)
class Sizes:
    swarm_file: int
    swarm_seeders: int
    crowd_file: int
    crowd_downloaders: int
    crowd_upload_limit: int  # bytes/s of every node's uplink in the crowd's capped rows
    big_file: int
    big_reference_file: int
    share_file: int
    tracker_peers: int
    tracker_files: int
    wrk_connections: int
    wrk_threads: int
    wrk_seconds: int
    tracker_timeout: float  # the trackers' --tracker-timeout in the failover measurement
    wan_file: int  # the download over one distant link (scenario 7)


# The capped crowd: 200 Mbit/s (an office or home uplink) in full, low enough that the links, not this machine's
# two cores, bound the crowd (at 1 Gbit/s they did not: see bench/README.md); in quick mode a cap that still makes
# the tiny solo download take about a second, so the limit is exercised, not just passed along.
FULL = Sizes(swarm_file=1 * GiB, swarm_seeders=3, crowd_file=256 * MiB, crowd_downloaders=8,
             crowd_upload_limit=25_000_000, big_file=8 * GiB, big_reference_file=1 * GiB, share_file=2 * GiB,
             tracker_peers=10_000, tracker_files=1_000, wrk_connections=200, wrk_threads=2, wrk_seconds=10,
             tracker_timeout=2.0, wan_file=128 * MiB)
QUICK = Sizes(swarm_file=16 * MiB, swarm_seeders=3, crowd_file=8 * MiB, crowd_downloaders=2,
              crowd_upload_limit=8_000_000, big_file=32 * MiB, big_reference_file=8 * MiB, share_file=16 * MiB,
              tracker_peers=50, tracker_files=10, wrk_connections=10, wrk_threads=1, wrk_seconds=1,
              tracker_timeout=1.0, wan_file=8 * MiB)


# Scenario 1 waits this long before setting up each timed download, ours and libtorrent's alike, so that none
# starts while the machine still pays for the one before: the host flushing our last copy (1.6-1.9 s per GiB
# written), or the memory a libtorrent run leaves scattered. On the machine of the fourteenth session, with piece
# buffers in small pages, our download right after a libtorrent run moved 286-338 MB/s and the same download 8 s
# later 373-395 (bench/HISTORY.md, fourteenth session); without the wait, the order of the runs, not the code,
# set scenario 1's medians.
SETTLE_SECONDS = 8.0

WORK_ROOT = Path("/tmp")  # where every invocation's files live (and so the disk its downloads write to)


@dataclass
class Ctx:
    sizes: Sizes
    runs: int
    quick: bool
    work: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="gs-bench-", dir=WORK_ROOT)))
    _files: dict[str, Path] = field(default_factory=dict)
    log: bool = True
    profile_dir: Path | None = None  # set: scenario 1 adds one profiled download, stacks kept here

    def __enter__(self) -> Ctx:
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        shutil.rmtree(self.work, ignore_errors=True)

    def say(self, text: str) -> None:
        if self.log:
            print(f"  .. {text}", flush=True)

    def say_download(self, t: Timing) -> None:
        """A timed download's figures, under the line that announced it."""
        self.say(f"     {describe(t)}")

    def settle(self) -> None:
        """Before a timed download is set up: let the machine recover from the one before (not in quick mode)."""
        if not self.quick:
            time.sleep(SETTLE_SECONDS)

    def dir(self, name: str) -> Path:
        d = self.work / name
        d.mkdir(parents=True, exist_ok=True)
        return d

    def random_file(self, size: int) -> Path:
        """A random-content file of ``size`` bytes in its own directory (shared by all that seed it)."""
        key = f"random-{size}"
        if key not in self._files:
            d = self.dir(f"src-{key}")
            self.say(f"making a {size / MiB:.0f} MiB random file")
            self._files[key] = make_random_file(d / f"data-{size}.bin", size)
        return self._files[key]

    def sparse_file(self, size: int) -> Path:
        key = f"sparse-{size}"
        if key not in self._files:
            d = self.dir(f"src-{key}")
            self._files[key] = make_sparse_file(d / f"sparse-{size}.bin", size)
        return self._files[key]
