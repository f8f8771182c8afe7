"""Scenario 1: 3 seeders -> 1 downloader of a random 1 GiB file, GroupShare against libtorrent in the same run.

Goal (issue 7): 1.5x libtorrent's MB/s; downloader peak RSS under 200 MB (issue 3). Our nodes run with their
defaults, so pieces travel over TLS, which libtorrent's peers here do not use. So each run also times a download
from a second swarm of the same shape started with TLS off (scenario 6's switch): the like-for-like row against
libtorrent. The goal is read on the default (TLS) row.

Every timed download, ours and libtorrent's alike, is set up after the same pause (``Ctx.settle``), so none starts
while the host still flushes the copy before or while the memory a libtorrent run freed is still scattered (see
``bench.context``).

Every download also reports the seconds the disk under it sat busy completing nothing (bench.disk_stalls), in its
progress line and as a row: on the bench machine such a stall, not the code, decides whether a run of ours is
fast, and libtorrent's copy never reaches the disk inside its timed window.
"""

from __future__ import annotations

from collections.abc import Generator

from bench.context import Ctx
from bench.gs_side import NotBuilt, timed_download
from bench.gs_swarm import GROUP, OurSwarm
from bench.lt_side import lt_swarm
from bench.model import MB, Metric, Timing
from bench.procs import Procs, Sampler
from bench.profile import profiled
from bench.scenarios.tls import tls_switch

NAME = "1 swarm 3->1"
REF = "libtorrent"
GOALS = {"MB/s (request to done)": ">= 1.5x", "downloader peak RSS": "< 200 MB"}
STALL_NOTE = ("disk stalled: seconds the device under the downloads was busy and completed nothing "
              "(bench.disk_stalls); libtorrent's copy stays in the page cache until it is deleted")


def timing_metrics(scenario: str, ours: Timing | None, ref: Timing | None, ref_name: str, note: str = "",
                   goals: dict[str, str] | None = None) -> list[Metric]:
    goals = goals or {}
    fields = [("MB/s (request to done)", "MB/s", "mb_s", 1.0),
              ("MB/s (from first byte)", "MB/s", "mb_s_from_first", 1.0),
              ("wall to done", "s", "t_done", 1.0), ("time to first byte", "s", "t_first", 1.0),
              ("downloader CPU", "s", "cpu_seconds", 1.0), ("downloader peak RSS", "MB", "peak_rss", 1 / MB)]
    return [Metric(scenario, name, unit, None if ours is None else float(getattr(ours, f)) * k,
                   None if ref is None else float(getattr(ref, f)) * k, ref_name, goals.get(name, ""), note)
            for name, unit, f, k in fields]


def run(ctx: Ctx) -> Generator[list[Metric], None, None]:
    size = ctx.sizes.swarm_file
    data = ctx.random_file(size)
    with Procs(ctx.dir("logs-swarm")) as procs:
        ours: OurSwarm | None = None
        note = ""
        plain: OurSwarm | None = None
        try:
            ctx.say("starting our tracker and seeders")
            ours = OurSwarm(procs, ctx.dir("gs-swarm"), ctx.sizes.swarm_seeders, [data])
            switch = tls_switch()
            if switch is not None:
                ctx.say("starting a second swarm with TLS off")
                plain = OurSwarm(procs, ctx.dir("gs-swarm-plain"), ctx.sizes.swarm_seeders, [data],
                                 node_args=(switch,))
        except NotBuilt as e:
            note = str(e)
        for i in range(ctx.runs):
            got: Timing | None = None
            seeders_cpu: float | None = None
            if ours is not None:
                ctx.settle()
                (node,) = ours.fresh_downloaders(1)
                ctx.say(f"run {i + 1}: GroupShare download")
                seeders = [Sampler(s.pid, period=1.0).start() for s in ours.seeders]
                got = timed_download(node, GROUP, data.name, ours.dest_dir(node), size)
                ctx.say_download(got)
                seeders_cpu = sum(s.stop().cpu_seconds for s in seeders)
                ours.retire([node], data, ctx.quick)
            plain_got: Timing | None = None
            if plain is not None:
                ctx.settle()
                (node,) = plain.fresh_downloaders(1)
                ctx.say(f"run {i + 1}: GroupShare download, TLS off")
                plain_got = timed_download(node, GROUP, data.name, plain.dest_dir(node), size)
                ctx.say_download(plain_got)
                plain.retire([node], data, ctx.quick)
            ctx.settle()
            ctx.say(f"run {i + 1}: libtorrent download")
            ref = lt_swarm(procs, ctx.dir("lt-swarm"), data, seeders=ctx.sizes.swarm_seeders, downloaders=1)
            lt = ref.timings[0]
            ctx.say_download(lt)
            plain_note = note or ("" if plain is not None else "the client has no switch to turn peer TLS off")
            yield [*timing_metrics(NAME, got, lt, REF, note, GOALS),
                   Metric(NAME, f"seeders CPU (all {ctx.sizes.swarm_seeders})", "s", seeders_cpu, ref.seeders_cpu,
                          REF, "", note),
                   Metric(NAME, "disk stalled while downloading", "s", None if got is None else got.disk_stalled,
                          lt.disk_stalled, REF, "", note or STALL_NOTE),
                   Metric(NAME, "MB/s, TLS off like libtorrent", "MB/s", None if plain_got is None else plain_got.mb_s,
                          lt.mb_s, REF, "", plain_note),
                   Metric(NAME, "downloader CPU, TLS off", "s",
                          None if plain_got is None else plain_got.cpu_seconds, lt.cpu_seconds, REF, "", plain_note)]
        if ours is not None and ctx.profile_dir is not None:
            ctx.settle()
            (node,) = ours.fresh_downloaders(1)
            ctx.say("profiled GroupShare download (not counted)")
            with profiled(node.pid, ctx.profile_dir / "swarm-downloader.txt") as prof:
                t = timed_download(node, GROUP, data.name, ours.dest_dir(node), size)
            ours.retire([node], data, ctx.quick)
            print(f"profile of the downloader ({t.mb_s:.0f} MB/s, {t.cpu_seconds:.2f} CPU-s under py-spy), "
                  f"raw stacks in {prof.raw}:")
            print(prof.summary(), flush=True)
