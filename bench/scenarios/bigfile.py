"""Scenario 3: a big sparse file (8 GiB) from 2 seeders, against a 1 GiB random file from the same seeders.

Goals (issue 7): the downloader's peak RSS stays under 200 MB and its throughput within 20% of the 1 GiB
download (ratio >= 0.8). Both downloads run in the same run from the same two seeders, each to a fresh node.
"""

from __future__ import annotations

from collections.abc import Generator

from bench.context import Ctx
from bench.gs_side import NotBuilt, timed_download
from bench.gs_swarm import GROUP, OurSwarm
from bench.model import MB, Metric, size_label
from bench.procs import Procs

NAME = "3 big file 2->1"


def run(ctx: Ctx) -> Generator[list[Metric], None, None]:
    big = ctx.sparse_file(ctx.sizes.big_file)
    small = ctx.random_file(ctx.sizes.big_reference_file)
    ref_name = f"ours, {size_label(ctx.sizes.big_reference_file)}"
    label = size_label(ctx.sizes.big_file)
    with Procs(ctx.dir("logs-bigfile")) as procs:
        ours: OurSwarm | None = None
        note = ""
        try:
            ctx.say("starting our tracker and 2 seeders (hashing the big file)")
            ours = OurSwarm(procs, ctx.dir("gs-bigfile"), 2, [big, small])
        except NotBuilt as e:
            note = str(e)
        for i in range(ctx.runs):
            if ours is None:
                yield [Metric(NAME, f"MB/s {label}", "MB/s", None, None, ref_name, ">= 0.8x", note),
                       Metric(NAME, f"peak RSS {label}", "MB", None, None, ref_name, "< 200 MB", note)]
                continue
            ctx.say(f"run {i + 1}: GroupShare {label} download")
            (a, b) = ours.fresh_downloaders(2)
            got = timed_download(a, GROUP, big.name, ours.dest_dir(a), big.stat().st_size, timeout=1800)
            ctx.say_download(got)
            ours.retire([a], big, ctx.quick)
            ctx.say(f"run {i + 1}: GroupShare reference download")
            ref = timed_download(b, GROUP, small.name, ours.dest_dir(b), small.stat().st_size)
            ctx.say_download(ref)
            ours.retire([b], small, ctx.quick)
            yield [Metric(NAME, f"MB/s {label}", "MB/s", got.mb_s, ref.mb_s, ref_name, ">= 0.8x"),
                   Metric(NAME, f"peak RSS {label}", "MB", got.peak_rss / MB, ref.peak_rss / MB, ref_name,
                          "< 200 MB"),
                   Metric(NAME, f"downloader CPU {label}", "s", got.cpu_seconds, ref.cpu_seconds, ref_name),
                   Metric(NAME, f"disk stalled while downloading {label}", "s", got.disk_stalled, ref.disk_stalled,
                          ref_name)]
