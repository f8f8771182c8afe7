"""Scenario 2: flash crowd. 1 seeder, 8 downloaders start together on a 256 MiB file.

Measured for GroupShare and for libtorrent in the same run: the bytes the original seeder uploaded divided by
the file size (kernel counters, see bench.upload_meter; goal under 2.5 copies) and the time until all have
finished divided by the time of 8 downloads from the seeder alone one after another (goal under 0.6). The
sequential figure is 8 x one solo download from the same seeder, measured in the same run (one solo download
stands for each of the 8: they are the same download).

Three more rows say why that ratio is what it is, for both sides: the CPU seconds a copy costs in the crowd over
what it costs alone (every process: downloaders and seeder), and how many cores were busy on average in the solo
download and in the crowd. On a machine the crowd keeps busy, all done / sequential is about
(CPU a copy, crowd / solo) x (cores busy, solo) / (cores busy, crowd): a solo download that already uses most of
the cores leaves a crowd little to gain. A last row gives the seconds the disk under the copies sat busy
completing nothing while the crowd ran (bench.disk_stalls): eight downloaders write 2 GiB to it at once.

Then the same crowd, solo download included, with every node's upload capped at 200 Mbit/s
(Sizes.crowd_upload_limit): the seeder upload, all done / sequential and all done rows again. The goal of 0.6
assumes a real network, where the seeder's uplink, not the CPU, bounds a solo download, and the crowd is faster
because the downloaders' uplinks add to the seeder's. On loopback nothing bounds the bandwidth: a solo download is
CPU-bound, and the crowd cannot beat sequential by more than the cores left idle, so the ratio is at least about
(cores busy, solo) / 2 on this 2-core machine. The cap puts the uplink back as the bound, provided it binds the
crowd too: eight downloaders on two cores move about 200 MB/s in all, so at 1 Gbit/s a node the cores still bound
the crowd and the cap only slowed the solo download. Our nodes get ``--upload-limit`` (a separate tracker,
seeder and downloaders, so the uncapped rows are unchanged); libtorrent peers get ``upload_rate_limit`` with every
address in its global peer class (see bench.lt_peer). Until the client takes ``--upload-limit`` our capped figures
are n/a.
"""

from __future__ import annotations

import threading
from collections.abc import Generator
from dataclasses import dataclass
from pathlib import Path

from bench.context import Ctx
from bench.disk_stalls import StallMeter
from bench.gs_side import Node, NotBuilt, client_accepts, start_download, timed_download, wait_download
from bench.gs_swarm import GROUP, OurSwarm
from bench.lt_side import lt_swarm
from bench.model import Metric
from bench.procs import Procs, Sampler
from bench.upload_meter import UploadMeter

NAME = "2 flash crowd 1->N"
REF = "libtorrent"
CAP_FLAG = "--upload-limit"


def _crowd(ours: OurSwarm, nodes: list[Node], name: str, size: int) -> tuple[float, int, float, float | None]:
    """All downloaders start together; (seconds until the last shows [C], bytes the seeder uploaded, CPU seconds
    of the downloaders and the seeder, seconds the disk was stalled meanwhile)."""
    meter = UploadMeter(ours.seeders[0].piece_port)
    disk = StallMeter(ours.work)
    # CPU only: a slow period keeps nine samplers from taking CPU from the crowd they measure
    samplers = [Sampler(p.pid, period=1.0).start() for p in [ours.seeders[0], *nodes]]
    done: list[float] = []
    errors: list[Exception] = []

    def watch(node: Node, t_start: float) -> None:
        try:
            _, t_done, _ = wait_download(node, GROUP, name, size, t_start, timeout=900)
            done.append(t_start - t0 + t_done)
        except Exception as e:  # reported below, in the caller's thread
            errors.append(e)

    try:  # the meter runs a process of its own: it is stopped whatever happens
        meter.start()
        disk.start()
        starts = [start_download(n, GROUP, name, ours.dest_dir(n)) for n in nodes]
        t0 = starts[0]
        threads = [threading.Thread(target=watch, args=(n, s)) for n, s in zip(nodes, starts, strict=True)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        uploaded = meter.stop()
        stalled = disk.stop()
        for s in samplers:
            s.stop()
    if errors:
        raise errors[0]
    return max(done), uploaded, sum(s.cpu_seconds for s in samplers), stalled


def _solo(ours: OurSwarm, node: Node, name: str, size: int) -> tuple[float, float]:
    """One download from the seeder alone: (seconds to [C], CPU seconds of the downloader and the seeder)."""
    seeder = Sampler(ours.seeders[0].pid, period=1.0).start()
    try:
        timing = timed_download(node, GROUP, name, ours.dest_dir(node), size)
    finally:
        seeder.stop()
    return timing.t_done, timing.cpu_seconds + seeder.cpu_seconds


@dataclass(frozen=True)
class CrowdFigures:
    """One side's crowd against its solo download, from one run."""

    copies: float  # bytes the seeder uploaded in the crowd / file size
    ratio: float  # all done / (n x solo)
    all_done: float  # seconds until the last of the crowd was done
    per_copy: float  # CPU a copy in the crowd / CPU of the solo copy
    solo_cores: float  # cores busy on average in the solo download
    crowd_cores: float  # cores busy on average in the crowd
    disk_stalled: float | None = None  # seconds the disk under the crowd's copies was busy completing nothing


def crowd_figures(size: int, n: int, *, t_solo: float, cpu_solo: float, all_done: float, uploaded: int,
                  cpu_crowd: float, disk_stalled: float | None = None) -> CrowdFigures:
    return CrowdFigures(copies=uploaded / size, ratio=all_done / (n * t_solo), all_done=all_done,
                        per_copy=cpu_crowd / n / cpu_solo, solo_cores=cpu_solo / t_solo,
                        crowd_cores=cpu_crowd / all_done, disk_stalled=disk_stalled)


def _ours(ctx: Ctx, ours: OurSwarm, data: Path, n: int, label: str) -> CrowdFigures:
    """A solo download, then a crowd of ``n``, each on fresh nodes of ``ours``."""
    size = data.stat().st_size
    (solo,) = ours.fresh_downloaders(1)
    ctx.say(f"GroupShare solo download{label}")
    t_solo, cpu_solo = _solo(ours, solo, data.name, size)
    ours.retire([solo], data, ctx.quick)
    nodes = ours.fresh_downloaders(n)
    ctx.say(f"GroupShare flash crowd of {n}{label}")
    all_done, uploaded, cpu_crowd, stalled = _crowd(ours, nodes, data.name, size)
    ours.retire(nodes, data, ctx.quick)
    return crowd_figures(size, n, t_solo=t_solo, cpu_solo=cpu_solo, all_done=all_done, uploaded=uploaded,
                         cpu_crowd=cpu_crowd, disk_stalled=stalled)


def _libtorrent(ctx: Ctx, procs: Procs, data: Path, n: int, label: str, upload_limit: int | None = None
                ) -> CrowdFigures:
    ctx.say(f"libtorrent solo download and flash crowd{label}")
    solo = lt_swarm(procs, ctx.dir("lt-crowd"), data, seeders=1, downloaders=1, upload_limit=upload_limit)
    crowd = lt_swarm(procs, ctx.dir("lt-crowd"), data, seeders=1, downloaders=n, meter_seeder=True,
                     upload_limit=upload_limit)
    assert crowd.seeder_uploaded is not None
    return crowd_figures(data.stat().st_size, n, t_solo=solo.all_done, cpu_solo=solo.cpu_seconds,
                         all_done=crowd.all_done, uploaded=crowd.seeder_uploaded, cpu_crowd=crowd.cpu_seconds,
                         disk_stalled=crowd.timings[0].disk_stalled)


# (row name, unit, CrowdFigures field, goal); "{n}" is the crowd's size
ROWS = [("seeder upload / file size", "x", "copies", "< 2.5"), ("all done / {n} sequential", "x", "ratio", "< 0.6"),
        ("all done", "s", "all_done", ""), ("CPU a copy, crowd / solo", "x", "per_copy", ""),
        ("cores busy, solo download", "cores", "solo_cores", ""), ("cores busy, crowd", "cores", "crowd_cores", ""),
        ("disk stalled, crowd", "s", "disk_stalled", "")]
CAPPED_ROWS = ROWS[:3]  # the CPU rows explain the CPU-bound loopback crowd; a capped one is bound by the links


def uplinks_label(cap: int) -> str:
    """What the capped rows' names say: 125_000_000 bytes/s -> '1 Gbit/s uplinks'."""
    bits = cap * 8
    return f"{bits / 1e9:g} Gbit/s uplinks" if bits >= 1e9 else f"{bits / 1e6:g} Mbit/s uplinks"


def _metrics(rows: list[tuple[str, str, str, str]], n: int, ours: CrowdFigures | None, ref: CrowdFigures,
             note: str, suffix: str = "") -> list[Metric]:
    return [Metric(NAME, name.format(n=n) + suffix, unit, None if ours is None else getattr(ours, f), getattr(ref, f),
                   REF, goal, note)
            for name, unit, f, goal in rows]


def _swarm(ctx: Ctx, procs: Procs, name: str, data: Path, node_args: tuple[str, ...] = ()
           ) -> tuple[OurSwarm | None, str]:
    """Our tracker and seeder (or None and why not)."""
    try:
        return OurSwarm(procs, ctx.dir(name), 1, [data], node_args=node_args), ""
    except NotBuilt as e:
        return None, str(e)


def run(ctx: Ctx) -> Generator[list[Metric], None, None]:
    size, n, cap = ctx.sizes.crowd_file, ctx.sizes.crowd_downloaders, ctx.sizes.crowd_upload_limit
    data = ctx.random_file(size)
    with Procs(ctx.dir("logs-crowd")) as procs:
        ctx.say("starting our tracker and the seeder")
        ours, note = _swarm(ctx, procs, "gs-crowd", data)
        capped: OurSwarm | None = None
        capped_note = note or f"the client takes no {CAP_FLAG} (checked by parsing a command line)"
        if ours is not None and client_accepts(CAP_FLAG, str(cap)):
            ctx.say(f"starting a second tracker and seeder, every node with {CAP_FLAG} {cap}")
            capped, capped_note = _swarm(ctx, procs, "gs-crowd-capped", data, (CAP_FLAG, str(cap)))
        for i in range(ctx.runs):
            got = None if ours is None else _ours(ctx, ours, data, n, f" (run {i + 1})")
            ref = _libtorrent(ctx, procs, data, n, f" (run {i + 1})")
            suffix = f", {uplinks_label(cap)}"
            got_capped = None if capped is None else _ours(ctx, capped, data, n, f"{suffix} (run {i + 1})")
            ref_capped = _libtorrent(ctx, procs, data, n, f"{suffix} (run {i + 1})", upload_limit=cap)
            yield [*_metrics(ROWS, n, got, ref, note), *_metrics(CAPPED_ROWS, n, got_capped, ref_capped, capped_note,
                                                                 suffix)]
