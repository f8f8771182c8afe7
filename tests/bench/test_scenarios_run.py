"""Every bench scenario runs end to end on tiny sizes (--quick), so the harness does not rot.

Not timed: these tests check that each scenario yields its metrics, stops every process it started and removes
its temp dir. A figure of ours may be n/a only while the feature behind it is absent, which each test checks
for itself rather than trusting the bench's own verdict.
"""

from __future__ import annotations

import itertools

import psutil
import pytest

from bench.__main__ import SCENARIOS
from bench.context import QUICK, WORK_ROOT, Ctx
from bench.disk_stalls import device_of
from bench.gs_side import Cluster, features
from bench.model import Metric
from bench.procs import Procs
from bench.scenarios.crowd import uplinks_label
from bench.scenarios.tls import tls_switch

pytestmark = pytest.mark.integration


def run_scenario(name: str) -> list[Metric]:
    before = {p.pid for p in psutil.Process().children(recursive=True)}
    with Ctx(sizes=QUICK, runs=1, quick=True, log=False) as ctx:
        work = ctx.work
        metrics = list(itertools.chain.from_iterable(SCENARIOS[name](ctx)))
    assert not work.exists(), "the temp dir outlived the run"
    left = [p for p in psutil.Process().children(recursive=True) if p.pid not in before and p.is_running()
            and p.status() != psutil.STATUS_ZOMBIE]
    assert not left, f"processes left running: {[p.cmdline() for p in left]}"
    assert metrics, "the scenario yielded no metric"
    return metrics


def reference_figures(metrics: list[Metric]) -> list[float]:
    return [m.ref for m in metrics if m.ref is not None]


def ours(metrics: list[Metric]) -> list[float | None]:
    return [m.ours for m in metrics]


def downloads_built() -> bool:
    f = features()
    return f["tracker"] and f["node"] and f["engine"]


def split_stalls(metrics: list[Metric]) -> tuple[list[Metric], list[Metric]]:
    """(the other rows, the disk-stall rows): a stall may rightly be 0 s, and is n/a without a block device."""
    stalls = [m for m in metrics if m.name.startswith("disk stalled")]
    return [m for m in metrics if m not in stalls], stalls


def assert_stalls_measured(stalls: list[Metric]) -> None:
    assert stalls, "no disk-stall row"
    measured = device_of(WORK_ROOT) is not None
    for m in stalls:
        figures = [m.ref] if m.ours is None and not downloads_built() else [m.ours, m.ref]
        assert all((f is not None and f >= 0) if measured else f is None for f in figures), m


def assert_both_sides_measured(metrics: list[Metric]) -> None:
    metrics, stalls = split_stalls(metrics)
    assert_stalls_measured(stalls)
    assert all(r > 0 for r in reference_figures(metrics)) and len(reference_figures(metrics)) == len(metrics)
    if downloads_built():
        assert None not in ours(metrics), [m.note for m in metrics]
    else:
        assert all(m.ours is None and m.note for m in metrics)


def test_swarm_scenario_measures_libtorrent_and_us_each_after_the_same_pause(
        monkeypatch: pytest.MonkeyPatch) -> None:
    settles: list[Ctx] = []
    monkeypatch.setattr(Ctx, "settle", lambda self: settles.append(self))
    assert_both_sides_measured(run_scenario("swarm"))
    timed = 1 + (downloads_built() and tls_switch() is not None) + downloads_built()
    assert len(settles) == timed  # libtorrent's download, ours with TLS off and ours with it: one pause each


def test_crowd_scenario_measures_libtorrent_and_us_also_with_capped_uplinks() -> None:
    metrics = run_scenario("crowd")
    assert_both_sides_measured(metrics)
    n, links = QUICK.crowd_downloaders, uplinks_label(QUICK.crowd_upload_limit)
    capped = [m.name for m in metrics if m.name.endswith(f", {links}")]
    assert capped == [f"seeder upload / file size, {links}", f"all done / {n} sequential, {links}",
                      f"all done, {links}"]


def test_bigfile_scenario_compares_the_big_download_with_a_small_one() -> None:
    metrics, stalls = split_stalls(run_scenario("bigfile"))
    assert_stalls_measured(stalls)
    if downloads_built():
        assert None not in ours(metrics) and all(m.ref for m in metrics)
    else:
        assert all(m.ours is None and m.note for m in metrics)


def test_sharing_scenario_times_upload_file_against_hashlib() -> None:
    metrics = run_scenario("sharing")
    assert [m.name for m in metrics] == ["upload_file hashing", "upload_file, against one SHA-256 pass"]
    assert all(m.ref is not None and m.ref > 0 for m in metrics)
    assert all((m.ours is not None) == (features()["tracker"] and features()["node"]) for m in metrics)


@pytest.fixture(scope="module")
def replication_built(tmp_path_factory: pytest.TempPathFactory) -> bool:
    """Independently of the bench's verdict: does a second tracker come up as a secondary?"""
    tmp = tmp_path_factory.mktemp("replication")
    with Procs(tmp / "logs") as procs:
        health = Cluster(procs, tmp).start_trackers(2)
    return health[1].get("role") == "secondary"


def test_tracker_scenario_loads_ours_and_the_reference_with_wrk(replication_built: bool) -> None:
    metrics = run_scenario("tracker")
    single = [m for m in metrics if m.name.startswith("1 tracker")]
    assert single and all(m.ref and m.ref > 0 for m in single)
    assert all(m.ours is not None for m in single) == features()["tracker"]
    replicated = [m for m in metrics if m.name.startswith("primary+secondary")]
    assert all(m.ours is not None for m in replicated) == replication_built


def test_replication_scenario_reports_writes_and_failover(replication_built: bool) -> None:
    metrics = run_scenario("replication")
    one = next(m for m in metrics if m.name == "writes, 1 tracker")
    assert one.ours is not None and one.ours > 0
    others = [m for m in metrics if m is not one]
    assert all(m.ours is not None for m in others) == replication_built, [m.note for m in others]


def test_tls_scenario_is_na_only_while_the_client_cannot_switch_tls_off() -> None:
    metrics = run_scenario("tls")
    assert all(m.ours is not None for m in metrics) == (tls_switch() is not None)


def test_wan_scenario_measures_libtorrent_and_us_over_the_same_distant_link() -> None:
    metrics = run_scenario("wan")
    assert [m.name for m in metrics] == ["MB/s over 150 ms, 200 Mbit/s", "MB/s / link capacity (25 MB/s)",
                                         "time to first piece"]
    assert all(m.ours is not None and m.ours > 0 and m.ref is not None and m.ref > 0 for m in metrics)
    share = metrics[1]
    assert share.ours is not None and share.ref is not None
    assert share.ours <= 1.0 and share.ref <= 1.0  # the relay held both to the link's rate


def test_every_part_the_bench_measures_is_built(replication_built: bool) -> None:
    """The tests above accept n/a for a part that is absent; this tree has them all, so each must be there (a part
    that went missing would otherwise turn those tests' checks into n/a checks, and they would still pass)."""
    assert features() == {"tracker": True, "node": True, "engine": True}
    assert tls_switch() == "--no-tls"
    assert replication_built
