"""``python -m bench [scenario ...] [--quick] [--runs N]``: run the benchmarks and print one table.

Scenarios run in the order given (all by default). Each yields one list of metrics per run; the table shows,
per metric, the median of our figures, the median of the reference figures and the median per-run ratio.
Every process started is stopped and the temp dir removed, also on Ctrl-C, SIGTERM or failure.
"""

from __future__ import annotations

import argparse
import sys
import time
import traceback
from collections.abc import Callable, Generator
from pathlib import Path

from bench.context import FULL, QUICK, Ctx
from bench.model import Metric, aggregate, render
from bench.procs import Terminated, install_signal_handlers
from bench.scenarios import bigfile, crowd, sharing, swarm, tls, tracker, wan

Scenario = Callable[[Ctx], Generator[list[Metric], None, None]]

# bigfile runs last: the kernel goes on writing its 8 GiB back to disk after it ends, which slowed whatever
# came next (sharing fell from 1.37x to 0.88x in the same minutes).
SCENARIOS: dict[str, Scenario] = {
    "swarm": swarm.run,
    "crowd": crowd.run,
    "sharing": sharing.run,
    "tls": tls.run,
    "tracker": tracker.run,
    "replication": tracker.run_replication,
    "wan": wan.run,
    "bigfile": bigfile.run,
}

RUNS = 3  # the floor: every figure is a median of at least 3 runs
# The 1 GiB downloads take 20-25 s a run and a stall of the bench machine's disk (bench/disk_stalls.py) costs the
# run it meets a quarter to a third of its speed, at random: two such runs of three set the median. Five runs
# each cost about a minute more in all.
MORE_RUNS = {"swarm": 5, "tls": 5}


def runs_for(name: str, asked: int | None, quick: bool) -> int:
    """Runs of one scenario: what ``--runs`` asked for, else 1 with ``--quick``, else its default."""
    if asked is not None:
        return asked
    return 1 if quick else MORE_RUNS.get(name, RUNS)


def run_all(names: list[str], ctx: Ctx, asked_runs: int | None = None) -> tuple[list[Metric], list[str]]:
    metrics: list[Metric] = []
    failures: list[str] = []
    for name in names:
        t0 = time.monotonic()
        ctx.runs = runs_for(name, asked_runs, ctx.quick)
        print(f"== {name} ({ctx.runs} run{'s' if ctx.runs > 1 else ''})", flush=True)
        runs = SCENARIOS[name](ctx)
        try:
            for got in runs:
                metrics.extend(got)
        except Exception as e:  # a broken scenario must not hide the others' figures
            traceback.print_exc()
            failures.append(f"{name}: {type(e).__name__}: {e}")
        finally:
            runs.close()  # a generator left suspended (Ctrl-C) would stop its processes only when collected
        print(f"   {name} took {time.monotonic() - t0:.0f} s", flush=True)
    return metrics, failures


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0] if __doc__ else "")
    ap.add_argument("scenarios", nargs="*", metavar="scenario", help=f"any of: {', '.join(SCENARIOS)} (default: all)")
    ap.add_argument("--quick", action="store_true", help="small sizes, 1 run (for tests and trying things)")
    ap.add_argument("--profile", type=Path, metavar="DIR",
                    help="scenario 1: one extra download of ours profiled with py-spy; raw stacks kept in DIR")
    ap.add_argument("--runs", type=int, default=None,
                    help=f"runs per scenario (default {RUNS}, swarm and tls {MORE_RUNS['swarm']}; 1 with --quick)")
    args = ap.parse_args(argv)
    unknown = [n for n in args.scenarios if n not in SCENARIOS]
    if unknown:
        ap.error(f"unknown scenario(s) {', '.join(unknown)}; choose from {', '.join(SCENARIOS)}")
    install_signal_handlers()
    names = args.scenarios or list(SCENARIOS)
    if args.runs is not None and args.runs < 1:
        ap.error("--runs must be at least 1")
    if args.profile:
        args.profile.mkdir(parents=True, exist_ok=True)
    try:
        with Ctx(sizes=QUICK if args.quick else FULL, runs=RUNS, quick=args.quick, profile_dir=args.profile) as ctx:
            print(f"bench: {', '.join(names)}; files under {ctx.work}", flush=True)
            t0 = time.monotonic()
            metrics, failures = run_all(names, ctx, args.runs)
            print()
            print(render(aggregate(metrics)))
            print(f"\ntotal {time.monotonic() - t0:.0f} s")
    except (KeyboardInterrupt, Terminated):
        print("\ninterrupted: every process the bench started is stopped and its temp dir removed", file=sys.stderr)
        return 130
    for f in failures:
        print(f"FAILED {f}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
