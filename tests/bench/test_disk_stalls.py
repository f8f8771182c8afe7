"""The bench's disk-stall meter: reading /proc/diskstats lines and summing the stretches a busy disk completed
nothing (pure), and the meter against this machine's own disk."""

from __future__ import annotations

import time
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from bench.disk_stalls import DiskSample, StallMeter, device_of, parse_line, stalled_seconds
from bench.model import Timing, describe

# A line as Linux 6.x prints it: 17 counters after the name (discards from 4.18, flushes from 5.5).
LINE = " 254       0 vda 723800 27186 727276066 7748961 2403956 523705 2118440088 14917707 3 4298684 26449895 " \
       "421334 207 2064526192 2842195 339360 941030"


def test_a_line_gives_its_device_and_every_kind_of_completed_request() -> None:
    parsed = parse_line(LINE, at=5.0)
    assert parsed is not None
    major, minor, sample = parsed
    assert (major, minor) == (254, 0)
    assert sample == DiskSample(at=5.0, completed=723800 + 2403956 + 421334 + 339360, busy_ms=4298684)


def test_an_older_kernels_line_without_discards_and_flushes_still_parses() -> None:
    parsed = parse_line(" 8 0 sda 10 0 80 5 20 0 160 9 0 30 14", at=0.0)
    assert parsed is not None and parsed[2].completed == 30 and parsed[2].busy_ms == 30


def test_lines_that_are_not_disk_counters_are_skipped() -> None:
    for line in ["", "vda 1 2 3", " 254 0 vda 1 2 3", " x 0 vda " + "1 " * 14, " 254 0 vda " + "1 " * 10 + "z"]:
        assert parse_line(line, at=0.0) is None


def _busy(at: float, completed: int) -> DiskSample:
    return DiskSample(at=at, completed=completed, busy_ms=int(at * 1000))  # busy all the time


def test_a_busy_disk_that_completes_nothing_for_half_a_second_is_a_half_second_stall() -> None:
    samples = [_busy(0.0, 0), _busy(0.1, 5), *(_busy(0.1 + 0.05 * k, 5) for k in range(1, 11)), _busy(0.7, 9)]
    assert abs(stalled_seconds(samples) - 0.5) < 1e-9


def test_short_waits_completions_and_an_idle_disk_are_not_stalls() -> None:
    short = [_busy(0.0, 0), _busy(0.05, 0), _busy(0.1, 0), _busy(0.15, 3)]  # 0.1 s: under the 0.2 s floor
    working = [_busy(0.05 * k, k) for k in range(20)]
    idle = [DiskSample(at=0.05 * k, completed=7, busy_ms=100) for k in range(20)]
    assert stalled_seconds(short) == 0.0
    assert stalled_seconds(working) == 0.0
    assert stalled_seconds(idle) == 0.0


def test_a_stall_still_going_when_sampling_ends_counts() -> None:
    samples = [_busy(0.0, 1), *(_busy(0.05 * k, 1) for k in range(1, 9))]
    assert abs(stalled_seconds(samples) - 0.4) < 1e-9


@given(st.lists(st.tuples(st.floats(0.001, 1.0), st.integers(0, 3), st.integers(0, 1000)), max_size=60))
def test_stalled_time_is_never_negative_nor_more_than_the_time_sampled(steps: list[tuple[float, int, int]]) -> None:
    at, done, busy = 0.0, 0, 0
    samples = [DiskSample(at, done, busy)]
    for dt, more, busy_ms in steps:
        at, done, busy = at + dt, done + more, busy + busy_ms
        samples.append(DiskSample(at, done, busy))
    assert 0.0 <= stalled_seconds(samples) <= at + 1e-9


def test_the_meter_samples_the_disk_under_a_directory_when_there_is_one(tmp_path: Path) -> None:
    meter = StallMeter(tmp_path, period=0.01).start()
    (tmp_path / "f").write_bytes(b"x" * 65536)
    time.sleep(0.1)
    stalled = meter.stop()
    if device_of(tmp_path) is None or not meter.samples:  # tmpfs or no /proc/diskstats: nothing to watch
        assert stalled is None
    else:
        assert stalled is not None and stalled >= 0.0
        assert len(meter.samples) >= 3
        assert [s.at for s in meter.samples] == sorted(s.at for s in meter.samples)


def test_a_download_line_names_the_stall_only_when_it_was_measured() -> None:
    t = Timing(t_first=0.1, done_at_first=0, t_done=4.0, size=1_000_000_000, cpu_seconds=2.5, peak_rss=1,
               disk_stalled=1.25)
    assert describe(t) == "250 MB/s in 4.00 s, 2.50 CPU-s, disk stalled 1.25 s"
    assert "disk" not in describe(Timing(0.1, 0, 4.0, 1_000_000_000, 2.5, 1))
