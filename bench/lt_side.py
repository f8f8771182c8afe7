"""The reference side: the same swarm topologies run with libtorrent, one process per peer.

Theory of operation: the torrent (v1, same piece size as GroupShare picks) is made once per file. Seeders serve the
original file in place (seed mode, no re-check); each downloader gets an empty directory. Every peer listens on
its own 127.0.0.1 port; downloaders are told every seeder and every other downloader (the tracker's job in
GroupShare). Once all are listening, ``go`` is written to each downloader; they time themselves from ``go``.
The bench samples CPU and RSS of downloader processes and counts the first seeder's upload with the kernel's
counters (see upload_meter).
"""

from __future__ import annotations

import json
import selectors
import shutil
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import libtorrent as lt

from bench.disk_stalls import StallMeter
from bench.model import SwarmRun, Timing
from bench.ports import free_port
from bench.procs import PYTHON, Procs, Sampler, wait_port
from bench.upload_meter import UploadMeter
from wire.pieces import piece_size_for


def make_torrent(data_file: Path) -> Path:
    out = data_file.with_suffix(".torrent")
    if out.exists():
        return out
    fs = lt.list_files(str(data_file))
    ct = lt.create_torrent(fs, piece_size_for(data_file.stat().st_size), flags=lt.create_torrent.v1_only)
    lt.set_piece_hashes(ct, str(data_file.parent))
    out.write_bytes(lt.bencode(ct.generate()))
    return out


def read_json_line(proc: subprocess.Popen[bytes], deadline: float) -> dict[str, Any]:
    assert proc.stdout is not None
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no answer from {proc.args!r}")
            if sel.select(min(left, 1.0)):
                line = proc.stdout.readline()
                if not line:
                    raise RuntimeError(f"{proc.args!r} ended (exit {proc.wait(5)})")
                obj: dict[str, Any] = json.loads(line)
                return obj
            if proc.poll() is not None:
                raise RuntimeError(f"{proc.args!r} ended (exit {proc.returncode})")
    finally:
        sel.close()


def peer_argv(role: str, torrent: Path, save: Path, port: int, peers: Sequence[int] = (),
              upload_limit: int | None = None) -> list[str]:
    """The command line of one lt_peer process; ``peers`` are ports on 127.0.0.1."""
    argv = [PYTHON, "-m", "bench.lt_peer", role, "--torrent", str(torrent), "--save", str(save), "--port", str(port)]
    if peers:
        argv += ["--peers", ",".join(f"127.0.0.1:{p}" for p in peers)]
    if upload_limit:
        argv += ["--upload-limit", str(upload_limit)]
    return argv


def lt_swarm(procs: Procs, work: Path, data_file: Path, *, seeders: int, downloaders: int,
             meter_seeder: bool = False, timeout: float = 600.0, upload_limit: int | None = None,
             via: Callable[[list[int]], list[int]] | None = None) -> SwarmRun:
    """``upload_limit`` (bytes/s) caps every peer's upload, seeders and downloaders alike. ``via``: given the
    seeders' ports, the ports the downloaders are told instead (relays in front of them, ``bench.wan``)."""
    torrent = make_torrent(data_file)
    size = data_file.stat().st_size
    seed_ports = [free_port() for _ in range(seeders)]
    dl_ports = [free_port() for _ in range(downloaders)]
    seeds = [procs.spawn(f"lt-seed-{i}", peer_argv("seed", torrent, data_file.parent, p, upload_limit=upload_limit),
                         stdin_pipe=True, stdout_pipe=True)
             for i, p in enumerate(seed_ports)]
    told = via(seed_ports) if via is not None else seed_ports
    dl_dirs = []
    dls = []
    for i, port in enumerate(dl_ports):
        d = work / f"lt-dl-{i}"
        shutil.rmtree(d, ignore_errors=True)
        d.mkdir(parents=True)
        dl_dirs.append(d)
        peers = told + [p for p in dl_ports if p != port]
        dls.append(procs.spawn(f"lt-dl-{i}", peer_argv("download", torrent, d, port, peers, upload_limit),
                               stdin_pipe=True, stdout_pipe=True))
    deadline = time.monotonic() + 60
    for proc, port in zip(seeds + dls, seed_ports + dl_ports, strict=True):
        read_json_line(proc, deadline)
        wait_port(port, 30, proc)
    samplers = [Sampler(p.pid).start() for p in dls]
    seed_samplers = [Sampler(p.pid, period=1.0).start() for p in seeds]
    meter = UploadMeter(seed_ports[0]) if meter_seeder else None
    disk = StallMeter(work).start()
    try:  # the meter runs a process of its own: it is stopped whatever happens
        if meter is not None:
            meter.start()
        for proc in dls:
            assert proc.stdin is not None
            proc.stdin.write(b"go\n")
            proc.stdin.flush()
        deadline = time.monotonic() + timeout
        answers = [read_json_line(p, deadline) for p in dls]
    finally:
        stalled = disk.stop()
        for s in samplers + seed_samplers:
            s.stop()
        uploaded = meter.stop() if meter is not None else None
    timings = [Timing(t_first=a["t_first"], done_at_first=a["done_at_first"], t_done=a["t_done"], size=size,
                      cpu_seconds=s.cpu_seconds, peak_rss=s.peak_rss, disk_stalled=stalled)
               for a, s in zip(answers, samplers, strict=True)]
    for p in seeds + dls:
        procs.stop(p)
    for d in dl_dirs:
        got = d / data_file.name
        if not got.exists() or got.stat().st_size != size:
            raise RuntimeError(f"libtorrent left no complete copy in {d}")
        shutil.rmtree(d, ignore_errors=True)
    return SwarmRun(timings=timings, seeder_uploaded=uploaded, seeders_cpu=sum(s.cpu_seconds for s in seed_samplers))
