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
the cores leaves a crowd little to gain.
"""

from __future__ import annotations

import threading
from collections.abc import Generator

from bench.context import Ctx
from bench.gs_side import Node, NotBuilt, start_download, timed_download, wait_download
from bench.gs_swarm import GROUP, OurSwarm
from bench.lt_side import lt_swarm
from bench.model import Metric
from bench.procs import Procs, Sampler
from bench.upload_meter import UploadMeter

NAME = "2 flash crowd 1->N"
REF = "libtorrent"


def _crowd(ours: OurSwarm, nodes: list[Node], name: str, size: int) -> tuple[float, int, float]:
    """All downloaders start together; (seconds until the last shows [C], bytes the seeder uploaded, CPU seconds
    of the downloaders and the seeder)."""
    meter = UploadMeter(ours.seeders[0].piece_port)
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
        starts = [start_download(n, GROUP, name, ours.dest_dir(n)) for n in nodes]
        t0 = starts[0]
        threads = [threading.Thread(target=watch, args=(n, s)) for n, s in zip(nodes, starts, strict=True)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        uploaded = meter.stop()
        for s in samplers:
            s.stop()
    if errors:
        raise errors[0]
    return max(done), uploaded, sum(s.cpu_seconds for s in samplers)


def _solo(ours: OurSwarm, node: Node, name: str, size: int) -> tuple[float, float]:
    """One download from the seeder alone: (seconds to [C], CPU seconds of the downloader and the seeder)."""
    seeder = Sampler(ours.seeders[0].pid, period=1.0).start()
    try:
        timing = timed_download(node, GROUP, name, ours.dest_dir(node), size)
    finally:
        seeder.stop()
    return timing.t_done, timing.cpu_seconds + seeder.cpu_seconds


def run(ctx: Ctx) -> Generator[list[Metric], None, None]:
    size, n = ctx.sizes.crowd_file, ctx.sizes.crowd_downloaders
    data = ctx.random_file(size)
    with Procs(ctx.dir("logs-crowd")) as procs:
        ours: OurSwarm | None = None
        note = ""
        try:
            ctx.say("starting our tracker and the seeder")
            ours = OurSwarm(procs, ctx.dir("gs-crowd"), 1, [data])
        except NotBuilt as e:
            note = str(e)
        for i in range(ctx.runs):
            copies = ratio = all_done = per_copy = solo_cores = crowd_cores = None
            if ours is not None:
                (solo,) = ours.fresh_downloaders(1)
                ctx.say(f"run {i + 1}: GroupShare solo download")
                t_solo, cpu_solo = _solo(ours, solo, data.name, size)
                ours.retire([solo], data, ctx.quick)
                nodes = ours.fresh_downloaders(n)
                ctx.say(f"run {i + 1}: GroupShare flash crowd of {n}")
                all_done, uploaded, cpu_crowd = _crowd(ours, nodes, data.name, size)
                ours.retire(nodes, data, ctx.quick)
                copies, ratio = uploaded / size, all_done / (n * t_solo)
                per_copy, solo_cores, crowd_cores = cpu_crowd / n / cpu_solo, cpu_solo / t_solo, cpu_crowd / all_done
            ctx.say(f"run {i + 1}: libtorrent solo download and flash crowd")
            lt_solo = lt_swarm(procs, ctx.dir("lt-crowd"), data, seeders=1, downloaders=1)
            crowd = lt_swarm(procs, ctx.dir("lt-crowd"), data, seeders=1, downloaders=n, meter_seeder=True)
            assert crowd.seeder_uploaded is not None
            yield [
                Metric(NAME, "seeder upload / file size", "x", copies, crowd.seeder_uploaded / size, REF,
                       "< 2.5", note),
                Metric(NAME, f"all done / {n} sequential", "x", ratio, crowd.all_done / (n * lt_solo.all_done), REF,
                       "< 0.6", note),
                Metric(NAME, "all done", "s", all_done, crowd.all_done, REF, "", note),
                Metric(NAME, "CPU a copy, crowd / solo", "x", per_copy,
                       crowd.cpu_seconds / n / lt_solo.cpu_seconds, REF, "", note),
                Metric(NAME, "cores busy, solo download", "cores", solo_cores, lt_solo.cpu_seconds / lt_solo.all_done,
                       REF, "", note),
                Metric(NAME, "cores busy, crowd", "cores", crowd_cores, crowd.cpu_seconds / crowd.all_done, REF, "",
                       note),
            ]
