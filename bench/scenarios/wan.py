"""Scenario 7: a download over one distant link, 150 ms round trip at 200 Mbit/s, GroupShare against libtorrent.

Everything else the bench measures runs on loopback, where a round trip is ~0.05 ms and nothing but the CPU bounds
a download. Real members sit on other continents or behind home links. Here one seeder sits behind a relay on
127.0.0.1 (``bench.link_emulator``) that delays each direction by 75 ms and caps it at 25,000,000 bytes/s, and
the downloader is told only the relay's port; libtorrent's seeder sits behind a relay of the same shape. Rows:
MB/s (request to done) and that over the link's capacity, for both. Our side is the swarm engine and piece
server with their defaults, in processes of their own, over plain TCP like libtorrent (``bench.wan_side``: a
node registers the address it listens on, so it cannot be put behind a relay).
"""

from __future__ import annotations

from collections.abc import Generator

from bench.context import Ctx
from bench.link_emulator import LinkShape
from bench.model import Metric
from bench.procs import Procs
from bench.wan import OurSeeders, capacity_mb_s, libtorrent_over, ours_over

NAME = "7 distant link"
REF = "libtorrent"
LINK = LinkShape(rtt=0.150, rate=25_000_000)  # 200 Mbit/s
LABEL = "150 ms, 200 Mbit/s"


def run(ctx: Ctx) -> Generator[list[Metric], None, None]:
    data = ctx.random_file(ctx.sizes.wan_file)
    capacity = capacity_mb_s(LINK, 1)
    with Procs(ctx.dir("logs-wan")) as procs:
        ctx.say("starting our seeder")
        seeder = OurSeeders(procs, ctx.dir("wan"), data, 1)
        for i in range(ctx.runs):
            ctx.settle()
            ctx.say(f"run {i + 1}: GroupShare download over {LABEL}")
            ours, relay_cpu = ours_over(seeder, LINK)
            ctx.say(f"     {ours.mb_s:.1f} MB/s in {ours.t_done:.2f} s, relay {relay_cpu:.2f} CPU-s")
            ctx.settle()
            ctx.say(f"run {i + 1}: libtorrent download over {LABEL}")
            lt, lt_relay_cpu = libtorrent_over(procs, ctx.dir("lt-wan"), data, 1, LINK)
            ctx.say(f"     {lt.mb_s:.1f} MB/s in {lt.t_done:.2f} s, relay {lt_relay_cpu:.2f} CPU-s")
            yield [Metric(NAME, f"MB/s over {LABEL}", "MB/s", ours.mb_s, lt.mb_s, REF),
                   Metric(NAME, f"MB/s / link capacity ({capacity:.0f} MB/s)", "of link", ours.mb_s / capacity,
                          lt.mb_s / capacity, REF),
                   Metric(NAME, "time to first piece", "s", ours.t_first, lt.t_first, REF,
                          note="ours: first piece verified; libtorrent: first progress it reports")]
        seeder.stop()
