"""The bench's pure parts: combining runs into a table, reading ss and wrk output, making test files, the crowd's
figures and the libtorrent peers' command lines and rate-limit filter."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import libtorrent as lt
import pytest

from bench.context import FULL, QUICK, SETTLE_SECONDS, Ctx
from bench.datafiles import make_random_file, make_sparse_file
from bench.lt_peer import all_peers_rate_limited
from bench.lt_side import peer_argv
from bench.model import Metric, Timing, aggregate, better, render
from bench.profile import summarise
from bench.scenarios.crowd import crowd_figures, uplinks_label
from bench.tracker_load import parse_wrk
from bench.upload_meter import parse_ss


def test_aggregate_takes_medians_and_the_median_of_per_run_ratios() -> None:
    runs = [Metric("s", "m", "MB/s", o, r, "ref") for o, r in [(100, 50), (90, 60), (300, 100)]]
    (s,) = aggregate(runs)
    assert s.ours == [100, 90, 300] and s.refs == [50, 60, 100]
    assert sorted(s.ratios) == [1.5, 2.0, 3.0]
    table = render([s])
    assert "100 MB/s" in table and "60 MB/s" in table and "2.00x" in table


def test_a_metric_without_our_figure_prints_na_with_its_reason() -> None:
    table = render(aggregate([Metric("6 TLS", "MB/s", "MB/s", None, None, "TLS off", note="not built")]))
    row = next(line for line in table.splitlines() if line.startswith("6 TLS"))
    assert row.split().count("n/a") == 3
    assert "6 TLS: not built" in table


def test_rates_are_better_high_costs_low_and_cores_busy_is_only_context() -> None:
    assert [better(u) for u in ("MB/s", "req/s", "s", "x", "MB", "cores")] == [
        "higher", "higher", "lower", "lower", "lower", "-"]
    table = render(aggregate([Metric("2 crowd", "cores busy, solo download", "cores", 1.5, 0.7, "lt")]))
    row = next(line for line in table.splitlines() if "cores busy" in line)
    assert "1.50 cores" in row and "0.70 cores" in row and "2.14x" in row and " - " in row


def test_timing_rates_count_bytes_after_the_first_observation() -> None:
    t = Timing(t_first=1.0, done_at_first=1_000_000, t_done=3.0, size=5_000_000, cpu_seconds=1, peak_rss=1)
    assert t.mb_s == 5 / 3
    assert t.mb_s_from_first == 2.0


def test_parse_ss_keeps_bytes_sent_per_connection() -> None:
    out = [
        "ESTAB 0 0 127.0.0.1:7000 127.0.0.1:50000\n",
        "\t cubic wscale:7,7 bytes_sent:1000 bytes_acked:1000 bytes_received:10\n",
        "TIME-WAIT 0 0 127.0.0.1:7000 127.0.0.1:50001\n",
        "UNCONN 0 0 127.0.0.1:7000 127.0.0.1:50002\n",
        "\t bytes_sent:2500 bytes_acked:2501\n",
    ]
    assert parse_ss(out) == {("127.0.0.1:7000", "127.0.0.1:50000"): 1000,
                             ("127.0.0.1:7000", "127.0.0.1:50002"): 2500}


def test_parse_wrk_reads_the_json_line_of_the_lua_script() -> None:
    out = "Running 1s test\nWRK_JSON " + (
        '{"requests":2000,"duration_us":1000000,"p50_us":1500,"p99_us":9000,'
        '"status":3,"connect":0,"read":1,"write":0,"timeout":0}') + "\n"
    r = parse_wrk(out)
    assert (r.rps, r.p50_ms, r.p99_ms, r.errors, r.requests) == (2000.0, 1.5, 9.0, 4, 2000)


def test_random_files_have_no_two_equal_pieces_and_sparse_files_read_as_zeros(tmp_path: Path) -> None:
    f = make_random_file(tmp_path / "r.bin", 40 << 20)
    data = f.read_bytes()
    assert len(data) == 40 << 20
    pieces = {hashlib.sha256(data[i:i + (16 << 10)]).digest() for i in range(0, len(data), 16 << 10)}
    assert len(pieces) == len(data) // (16 << 10)
    s = make_sparse_file(tmp_path / "s.bin", 1 << 20)
    assert s.read_bytes() == bytes(1 << 20)


def test_profile_summary_counts_gil_samples_per_thread_and_function() -> None:
    raw = [
        "thread (11): MainThread;run (asyncio/base_events.py:600);_read_ready (asyncio/selector_events.py:10) 30\n",
        "thread (11): MainThread;run (asyncio/base_events.py:600);select (selectors.py:468) 10\n",
        "thread (12): piece-verify_0;_worker (concurrent/futures/thread.py:83);verify (store.py:5) 60\n",
    ]
    text = summarise(raw, {11: 1.5, 12: 2.25})
    assert "2.25 s  piece-verify_0 (12)" in text and "1.50 s  MainThread (11)" in text
    assert " 60.0%  thread (12): piece-verify_0" in text
    assert " 30.0%  _read_ready (asyncio/selector_events.py)" in text
    assert " 40.0%  run (asyncio/base_events.py)" in text


def test_crowd_figures_relate_the_crowd_to_n_solo_downloads() -> None:
    f = crowd_figures(100, 4, t_solo=2.0, cpu_solo=3.0, all_done=4.0, uploaded=250, cpu_crowd=12.0)
    assert (f.copies, f.ratio, f.all_done) == (2.5, 0.5, 4.0)  # 4 s against 4 x 2 s one after another
    assert (f.per_copy, f.solo_cores, f.crowd_cores) == (1.0, 1.5, 3.0)


def test_capped_rows_name_the_uplink_in_bits_a_second() -> None:
    assert uplinks_label(125_000_000) == "1 Gbit/s uplinks"
    assert uplinks_label(25_000_000) == "200 Mbit/s uplinks"
    assert uplinks_label(8_000_000) == "64 Mbit/s uplinks"


def test_libtorrent_peers_get_the_upload_limit_only_when_there_is_one() -> None:
    argv = peer_argv("download", Path("t.torrent"), Path("d"), 7000, [7001, 7002], upload_limit=125_000_000)
    assert argv[argv.index("--peers") + 1] == "127.0.0.1:7001,127.0.0.1:7002"
    assert argv[argv.index("--upload-limit") + 1] == "125000000"
    assert "--upload-limit" not in peer_argv("seed", Path("t.torrent"), Path("d"), 7000)
    assert "--peers" not in peer_argv("seed", Path("t.torrent"), Path("d"), 7000)


def test_the_rate_limit_filter_puts_loopback_peers_in_the_limited_global_class() -> None:
    """By default 127.0.0.0/8 is in libtorrent's local class, which no rate limit applies to."""
    f = all_peers_rate_limited()
    glob = 1 << lt.session.global_peer_class_id
    assert [f.access(a) for a in ("127.0.0.1", "10.1.2.3", "8.8.8.8", "::1")] == [glob] * 4


def test_runs_are_what_was_asked_else_one_when_quick_else_each_scenarios_default() -> None:
    from bench.__main__ import MORE_RUNS, RUNS, SCENARIOS, runs_for

    assert RUNS >= 3 and all(n > RUNS for n in MORE_RUNS.values()) and set(MORE_RUNS) <= set(SCENARIOS)
    assert runs_for("swarm", None, quick=False) == MORE_RUNS["swarm"]
    assert runs_for("crowd", None, quick=False) == RUNS
    assert runs_for("swarm", None, quick=True) == 1
    assert runs_for("swarm", 2, quick=False) == 2 and runs_for("crowd", 4, quick=True) == 4


def test_settling_waits_before_a_full_download_and_not_in_quick_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    slept: list[float] = []
    monkeypatch.setattr(time, "sleep", slept.append)
    with Ctx(sizes=FULL, runs=1, quick=False, log=False) as full:
        full.settle()
    with Ctx(sizes=QUICK, runs=1, quick=True, log=False) as quick:
        quick.settle()
    assert slept == [SETTLE_SECONDS]
