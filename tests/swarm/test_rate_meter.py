"""``RateMeter``: a trickle reads slow, not stopped; a fast download reads its recent speed."""

from __future__ import annotations

from peer_node.swarm.rate_meter import RateMeter


def test_recent_bytes_give_the_recent_speed() -> None:
    meter = RateMeter()
    assert meter.rate() == 0.0
    for tick in range(20):
        meter.add(tick * 0.5, tick * 500_000)  # 1 MB/s
    assert meter.rate() == 1_000_000.0


def test_a_block_every_ten_seconds_reads_as_the_trickle_it_is_not_as_nothing() -> None:
    meter = RateMeter()
    total = 0
    for tick in range(80):  # 40 s: a 100 kB block every 10 s
        now = tick * 0.5
        if tick and tick % 20 == 0:
            total += 100_000
        meter.add(now, total)
    assert 5_000 < meter.rate() < 20_000  # about 10 kB/s, though nothing arrived in the last few seconds


def test_nothing_for_half_a_minute_reads_zero() -> None:
    meter = RateMeter()
    meter.add(0.0, 0)
    meter.add(1.0, 50_000)
    for tick in range(4, 80):
        meter.add(tick * 0.5, 50_000)
    assert meter.rate() == 0.0
