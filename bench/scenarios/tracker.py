"""Scenario 5: the tracker's hot path under wrk, and (issue 5) failover time and replicated write throughput.

Hot path: one tracker preloaded through its API with live peers and files (10,000 and 1,000), then wrk
(-t2 -c200) alternating heartbeats and list_files; the reference is a bare aiohttp server answering the same
routes from a dict (bench.ref_tracker), measured in the same run. Goal (issue 7): 10,000 req/s, p99 < 25 ms.
The same load against a primary that has one secondary, once replication exists.

Replication: write req/s (wrk sharing new files) with 1, 2 and 3 trackers, the 2 and 3 figures against the
1-tracker figure of the same run; failover = SIGKILL of the primary to the first successful write on the
survivor, against the tracker-timeout setting. Both print n/a while a second tracker does not come up as a
secondary (no replication yet).
"""

from __future__ import annotations

import asyncio
import http.client
import json
import time
import uuid
from collections.abc import Generator

from bench.context import Ctx
from bench.gs_side import Cluster, NotBuilt, http_json
from bench.model import Metric
from bench.ports import free_port
from bench.procs import PYTHON, Procs, wait_port
from bench.tracker_load import Preloaded, WrkResult, preload, run_wrk

NAME = "5 tracker"
REF = "bare aiohttp+dict"
# Liveness expiry is not measured here: a long peer timeout keeps every preloaded peer live for the whole load.
LOAD_ARGS = ("--peer-timeout", "900")


def _wrk_metrics(label: str, ours: WrkResult | None, ref: WrkResult | None, note: str) -> list[Metric]:
    notes = [note] if note else []
    for who, r in (("ours", ours), ("reference", ref)):
        if r is not None and r.errors:
            notes.append(f"{who}: {r.errors} of {r.requests} requests failed")
    n = "; ".join(notes)
    def get(r: WrkResult | None, f: str) -> float | None:
        return None if r is None else float(getattr(r, f))

    return [
        Metric(NAME, f"{label} req/s", "req/s", get(ours, "rps"), get(ref, "rps"), REF, ">= 10,000", n),
        Metric(NAME, f"{label} p50", "ms", get(ours, "p50_ms"), get(ref, "p50_ms"), REF, "", n),
        Metric(NAME, f"{label} p99", "ms", get(ours, "p99_ms"), get(ref, "p99_ms"), REF, "< 25 ms", n),
    ]


def _has_replication(health: list[dict[str, object]]) -> bool:
    return len(health) > 1 and health[1].get("role") == "secondary"


def run(ctx: Ctx) -> Generator[list[Metric], None, None]:
    sz = ctx.sizes
    wrk_opts = {"threads": sz.wrk_threads, "connections": sz.wrk_connections, "seconds": sz.wrk_seconds}
    with Procs(ctx.dir("logs-tracker")) as procs:
        loaded: Preloaded | None = None
        port = 0
        note = ""
        cluster = Cluster(procs, ctx.dir("gs-tracker-1"))
        try:
            cluster.start_trackers(1, LOAD_ARGS, listed=2)  # the second joins later, as a secondary
            port = cluster.tracker_ports[0]
            ctx.say(f"preloading {sz.tracker_peers} peers and {sz.tracker_files} files")
            t0 = time.monotonic()
            loaded = asyncio.run(preload(port, ctx.work, sz.tracker_peers, sz.tracker_files))
            ctx.say(f"preload took {time.monotonic() - t0:.0f} s")
        except NotBuilt as e:
            note = str(e)
        ref_port = free_port()
        ref_data = ctx.work / "ref-tracker.json"
        if loaded is None:  # the reference still runs: a few fake peers
            loaded = _fake_preload(ctx, sz.tracker_peers)
        ref_data.write_text(json.dumps({"tokens": {t: list(v) for t, v in loaded.tokens.items()},
                                        "bodies": {g: b.decode() for g, b in loaded.list_bodies.items()}}))
        ref = procs.spawn("ref-tracker", [PYTHON, "-m", "bench.ref_tracker", str(ref_port), str(ref_data)])
        wait_port(ref_port, 30, ref)
        for i in range(ctx.runs):
            ctx.say(f"run {i + 1}: wrk against our tracker and the reference")
            ours = run_wrk(port, "hot_path.lua", [str(loaded.peers_file)], **wrk_opts) if not note else None
            theirs = run_wrk(ref_port, "hot_path.lua", [str(loaded.peers_file)], **wrk_opts)
            yield _wrk_metrics("1 tracker", ours, theirs, note)
        yield from _hot_path_replicated(ctx, cluster, wrk_opts, note, ref_port, loaded)


def _hot_path_replicated(ctx: Ctx, cluster: Cluster, wrk_opts: dict[str, int], note: str, ref_port: int,
                         loaded: Preloaded) -> Generator[list[Metric], None, None]:
    """Start the second listed tracker next to the loaded primary; once it has caught up, load the primary again."""
    label = "primary+secondary"
    if note:
        yield _wrk_metrics(label, None, None, note)
        return
    ctx.say("starting a secondary beside the loaded primary")
    t0 = time.perf_counter()
    health = cluster.start_tracker(2)
    if health.get("role") != "secondary":
        yield _wrk_metrics(label, None, None, "replication not built (tracker 2 is not a secondary)")
        return
    caught_up = _wait_caught_up(cluster) - t0
    ctx.say(f"the secondary caught up in {caught_up:.1f} s")
    port = cluster.tracker_ports[0]
    for i in range(ctx.runs):
        ctx.say(f"run {i + 1}: wrk against a primary with one secondary, and the reference")
        ours = run_wrk(port, "hot_path.lua", [str(loaded.peers_file)], **wrk_opts)
        theirs = run_wrk(ref_port, "hot_path.lua", [str(loaded.peers_file)], **wrk_opts)
        yield [*_wrk_metrics(label, ours, theirs, ""),
               Metric(NAME, "secondary catch-up (start to same log_index)", "s", caught_up, None, "-")]


def _wait_caught_up(cluster: Cluster, timeout: float = 300.0) -> float:
    """perf_counter time when tracker 2's log_index first equals tracker 1's."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            a = http_json(cluster.tracker_ports[0], "/healthz")[1].get("log_index")
            b = http_json(cluster.tracker_ports[1], "/healthz")[1].get("log_index")
            if a is not None and a == b:
                return time.perf_counter()
        except OSError:
            pass
        time.sleep(0.1)
    raise TimeoutError("the secondary did not catch up with the primary")


def _fake_preload(ctx: Ctx, peers: int) -> Preloaded:
    tokens = {uuid.uuid4().hex: (f"p{i}", "g0") for i in range(max(peers, 1))}
    f = ctx.work / "peers.txt"
    f.write_text("".join(f"{t} g0 -\n" for t in tokens))
    return Preloaded(f, {"g0": b'{"files": []}'}, tokens)


# ---------------------------------------------------------------------------------------------- replication

def _write(port: int, token: str, group: str, timeout: float = 1.0) -> bool:
    """One durable write (a new group); True if acknowledged."""
    body = json.dumps({"group_id": group, "op_id": uuid.uuid4().hex})
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("POST", "/api/v1/groups", body=body, headers={
            "Authorization": f"Bearer {token}", "Content-Type": "application/json"})
        resp = conn.getresponse()
        resp.read()
        return 200 <= resp.status < 300
    except OSError:
        return False
    finally:
        conn.close()


def run_replication(ctx: Ctx) -> Generator[list[Metric], None, None]:
    sz = ctx.sizes
    wrk_opts = {"threads": sz.wrk_threads, "connections": min(sz.wrk_connections, 50), "seconds": sz.wrk_seconds}
    args = ("--tracker-timeout", str(sz.tracker_timeout))
    writers = 4 if ctx.quick else 20
    with Procs(ctx.dir("logs-replication")) as procs:
        note = ""
        clusters: dict[int, Cluster] = {}
        peers: dict[int, Preloaded] = {}
        try:
            for n in (1, 2, 3):
                cluster = Cluster(procs, ctx.dir(f"gs-writes-{n}"))
                if not _has_replication(cluster.start_trackers(n, args)) and n > 1:
                    note = "replication not built (tracker 2 is not a secondary)"
                    break
                clusters[n] = cluster
                peers[n] = asyncio.run(preload(cluster.tracker_ports[0], ctx.dir(f"writes-{n}"), writers, 0))
        except NotBuilt as e:
            note = str(e)
        for i in range(ctx.runs):
            ctx.say(f"run {i + 1}: writes against 1, 2 and 3 trackers")
            got = {n: run_wrk(c.tracker_ports[0], "writes.lua", [str(peers[n].peers_file), f"r{i}"], **wrk_opts).rps
                   for n, c in clusters.items()}
            base = got.get(1)
            yield [Metric("5b replication", "writes, 1 tracker", "req/s", base, None, "-"),
                   *(Metric("5b replication", f"writes, {n} trackers", "req/s", got.get(n), base,
                            "1 tracker, same run", "", note) for n in (2, 3))]
        for n in (1, 3):
            for p in clusters[n].tracker_procs if n in clusters else []:
                procs.stop(p)
        for i in range(ctx.runs):
            took = None
            if not note:
                ctx.say(f"run {i + 1}: failover")
                if i == 0:  # the 2-tracker cluster of the write test serves for the first one
                    cluster, token = clusters[2], next(iter(peers[2].tokens))
                else:
                    cluster = Cluster(procs, ctx.dir(f"gs-failover-{i}"))
                    cluster.start_trackers(2, args)
                    loaded = asyncio.run(preload(cluster.tracker_ports[0], ctx.dir(f"failover-{i}"), 1, 0))
                    token = next(iter(loaded.tokens))
                took = _failover_once(procs, cluster, token, i)
            yield [Metric("5b replication", "failover: kill -9 to first write", "s", took, sz.tracker_timeout,
                          "tracker-timeout setting", "< 5 s", note)]


def _failover_once(procs: Procs, cluster: Cluster, token: str, i: int) -> float:
    """Kill -9 the primary (tracker 1); seconds until a write to tracker 2 is acknowledged."""
    survivor = cluster.tracker_ports[1]
    if not _write(cluster.tracker_ports[0], token, f"before{i}", timeout=5):
        raise RuntimeError("a write to the primary failed before the failover")
    procs.kill9(cluster.tracker_procs[0])
    t0 = time.perf_counter()
    k = 0
    while not _write(survivor, token, f"after{i}x{k}"):
        k += 1
        if time.perf_counter() - t0 > 60:
            raise TimeoutError("no write succeeded within 60 s of the primary's death")
        time.sleep(0.02)
    took = time.perf_counter() - t0
    for p in cluster.tracker_procs:
        procs.stop(p)
    return took
