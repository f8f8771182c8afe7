"""Scenario 6: what TLS on the peer transport costs (issue 6): scenario 1's download with TLS against without.

Two swarms of the same shape (a tracker, seeders sharing the file, a fresh downloader per run): one with the
nodes' default transport (TLS once it exists), one with every node started with the client's switch that turns
TLS off. The ratio is MB/s with TLS over MB/s without, both in the same run. The switch is looked for, not
assumed: until the client accepts one of the known spellings the scenario prints n/a.
"""

from __future__ import annotations

from collections.abc import Generator

from bench.context import Ctx
from bench.gs_side import NotBuilt, client_accepts, timed_download
from bench.gs_swarm import GROUP, OurSwarm
from bench.model import Metric
from bench.procs import Procs

NAME = "6 TLS"
CANDIDATES = ("--no-tls", "--plain", "--insecure-plain")


def tls_switch() -> str | None:
    """The client option that turns peer TLS off, if the client accepts one (checked by parsing argv)."""
    return next((flag for flag in CANDIDATES if client_accepts(flag)), None)


def run(ctx: Ctx) -> Generator[list[Metric], None, None]:
    switch = tls_switch()
    if switch is None:
        for _ in range(ctx.runs):
            yield [Metric(NAME, "MB/s, TLS on / off", "MB/s", None, None, "TLS off", ">= 0.8x",
                          "the client has no switch to turn peer TLS off (looked for " + ", ".join(CANDIDATES) + ")")]
        return
    size = ctx.sizes.swarm_file
    data = ctx.random_file(size)
    with Procs(ctx.dir("logs-tls")) as procs:
        try:
            ctx.say("starting two swarms: TLS on, TLS off")
            on = OurSwarm(procs, ctx.dir("gs-tls-on"), ctx.sizes.swarm_seeders, [data])
            off = OurSwarm(procs, ctx.dir("gs-tls-off"), ctx.sizes.swarm_seeders, [data], node_args=(switch,))
        except NotBuilt as e:
            for _ in range(ctx.runs):
                yield [Metric(NAME, "MB/s, TLS on / off", "MB/s", None, None, "TLS off", ">= 0.8x", str(e))]
            return
        for i in range(ctx.runs):
            got = {}
            for label, swarm in (("on", on), ("off", off)):
                ctx.say(f"run {i + 1}: download with TLS {label}")
                (node,) = swarm.fresh_downloaders(1)
                got[label] = timed_download(node, GROUP, data.name, swarm.dest_dir(node), size)
                ctx.say_download(got[label])
                swarm.retire([node], data, ctx.quick)
            yield [Metric(NAME, "MB/s, TLS on / off", "MB/s", got["on"].mb_s, got["off"].mb_s, "TLS off", ">= 0.8x"),
                   Metric(NAME, "downloader CPU, TLS on / off", "s", got["on"].cpu_seconds, got["off"].cpu_seconds,
                          "TLS off")]
