"""Downloads over emulated distant links, ours and libtorrent's: the processes, started and stopped here.

Each seeder sits behind its own relay (``bench.link_emulator``, one process each, so the relays' CPU is neither
side's), and the downloader is told only the relays' ports. Our seeders and downloader are ``bench.wan_side``
processes (the swarm engine and piece server with their defaults, plain TCP); libtorrent's are
``bench.lt_side``'s. Nothing listens anywhere but 127.0.0.1.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from bench.link_emulator import LinkShape
from bench.lt_side import lt_swarm, read_json_line
from bench.model import Timing
from bench.procs import PYTHON, Procs, Sampler


@dataclass
class RelaySet:
    """One relay process per target port; ``cpu`` sums their CPU seconds while sampled."""

    procs: Procs
    children: list[subprocess.Popen[bytes]]
    ports: list[int]
    samplers: list[Sampler] | None = None
    cpu: float = 0.0

    @classmethod
    def start(cls, procs: Procs, targets: list[int], shape: LinkShape) -> RelaySet:
        children = [procs.spawn(f"relay-{t}", [PYTHON, "-m", "bench.link_emulator", str(t), "--rtt", str(shape.rtt),
                                               "--rate", str(shape.rate)], stdout_pipe=True) for t in targets]
        deadline = time.monotonic() + 30
        ports = [int(read_json_line(c, deadline)["port"]) for c in children]
        relays = cls(procs, children, ports)
        relays.samplers = [Sampler(c.pid, period=1.0).start() for c in children]
        return relays

    def stop(self) -> None:
        if self.samplers is not None:
            self.cpu = sum(s.stop().cpu_seconds for s in self.samplers)
            self.samplers = None
        for c in self.children:
            self.procs.stop(c)


class OurSeeders:
    """``count`` piece servers of ``data`` in one process; ``meta_file`` tells a downloader what to fetch."""

    def __init__(self, procs: Procs, work: Path, data: Path, count: int) -> None:
        self.procs, self.work, self.size = procs, work, data.stat().st_size
        self.meta_file = work / "wan-meta.json"
        self.proc = procs.spawn("wan-seeders", [PYTHON, "-m", "bench.wan_side", "seed", str(data), "--count",
                                                str(count), "--out", str(self.meta_file)],
                                stdin_pipe=True, stdout_pipe=True)
        self.ports: list[int] = read_json_line(self.proc, time.monotonic() + 120)["ports"]

    def download(self, ports: list[int], timeout: float = 600.0) -> Timing:
        """One fresh downloader through ``ports``; its copy is checked by size, then deleted."""
        dest = self.work / "wan-dl"
        shutil.rmtree(dest, ignore_errors=True)
        dest.mkdir(parents=True)
        proc = self.procs.spawn("wan-get", [PYTHON, "-m", "bench.wan_side", "get", str(self.meta_file), str(dest),
                                            "--ports", ",".join(map(str, ports))], stdin_pipe=True, stdout_pipe=True)
        try:
            read_json_line(proc, time.monotonic() + 60)
            sampler = Sampler(proc.pid).start()
            assert proc.stdin is not None
            proc.stdin.write(b"go\n")
            proc.stdin.flush()
            try:
                got = read_json_line(proc, time.monotonic() + timeout)
            finally:
                sampler.stop()
        finally:
            self.procs.stop(proc)
            shutil.rmtree(dest, ignore_errors=True)
        return Timing(t_first=got["t_first"], done_at_first=got["done_at_first"], t_done=got["t_done"],
                      size=self.size, cpu_seconds=sampler.cpu_seconds, peak_rss=sampler.peak_rss)

    def stop(self) -> None:
        self.procs.stop(self.proc)


def ours_over(seeders: OurSeeders, shape: LinkShape) -> tuple[Timing, float]:
    """(our download through one relay per seeder, the relays' CPU seconds)."""
    relays = RelaySet.start(seeders.procs, seeders.ports, shape)
    try:
        timing = seeders.download(relays.ports)
    finally:
        relays.stop()
    return timing, relays.cpu


def libtorrent_over(procs: Procs, work: Path, data: Path, seeders: int, shape: LinkShape) -> tuple[Timing, float]:
    """(libtorrent's download from ``seeders`` of its peers, each behind a relay; the relays' CPU seconds)."""
    started: list[RelaySet] = []

    def via(ports: list[int]) -> list[int]:
        started.append(RelaySet.start(procs, ports, shape))
        return started[-1].ports

    try:
        run = lt_swarm(procs, work, data, seeders=seeders, downloaders=1, via=via)
    finally:
        for r in started:
            r.stop()
    return run.timings[0], sum(r.cpu for r in started)


def capacity_mb_s(shape: LinkShape, seeders: int) -> float:
    """What the links can carry together, MB/s (each seeder has a link of ``shape.rate`` of its own)."""
    return shape.rate * seeders / 1e6
