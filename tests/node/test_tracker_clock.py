"""The trackers' time as a node tells it from their answers' ``Date`` headers: a seeder whose clock is minutes off
checks access tokens by it (it refused every token as expired, serving nothing and saying nothing)."""

from __future__ import annotations

import email.utils
import time

import pytest

from peer_node.tracker_clock import AT_LEAST, TrackerClock, skew_words


def date_header(at: float) -> str:
    return email.utils.formatdate(at, usegmt=True)


class Clocks:
    """This machine's wall clock and its monotonic clock, moved by hand."""

    def __init__(self) -> None:
        self.wall, self.mono = 1_000_000.0, 50.0

    def clock(self) -> TrackerClock:
        return TrackerClock(lambda: self.wall, lambda: self.mono)

    def pass_(self, seconds: float) -> None:
        self.wall += seconds
        self.mono += seconds


def test_the_offset_is_the_median_of_recent_answers_and_none_under_two_seconds() -> None:
    c = Clocks()
    clock = c.clock()
    assert clock.offset == 0.0 and clock.now() == c.wall  # nothing heard yet
    for ahead in (-400, 5_000, -401, -399):  # one answer out of line (a slow one, a proxy) moves nothing
        clock.heard(date_header(c.wall + ahead))
        c.pass_(1)
    assert -401 <= clock.offset <= -399
    assert -401 <= clock.now() - c.wall <= -399
    steady = c.clock()
    for _ in range(AT_LEAST):
        steady.heard(date_header(c.wall + 0.9))  # whole seconds: a second off is no skew
    assert steady.offset == 0.0


def test_one_wild_answer_first_moves_nothing() -> None:
    c = Clocks()
    clock = c.clock()
    clock.heard("Fri, 31 Dec 9999 23:59:59 GMT")  # no tracker's time: ignored outright
    clock.heard(date_header(c.wall + 5_000))  # plausible but alone: not used before AT_LEAST answers
    assert clock.offset == 0.0
    for _ in range(AT_LEAST):
        clock.heard(date_header(c.wall))
    assert clock.offset == 0.0


def test_setting_this_machine_s_clock_keeps_what_was_learnt() -> None:
    """Learnt while 10 min ahead; then the clock is set right: the trackers' time is still read right at once
    (tokens that expired 9 min before were taken as live, fresh ones refused, until new answers came)."""
    c = Clocks()
    clock = c.clock()
    for _ in range(AT_LEAST):
        clock.heard(date_header(c.wall - 600))  # this machine 10 min ahead of the trackers
    tracker_time = clock.now()
    assert abs(tracker_time - (c.wall - 600)) <= 1
    c.wall -= 600  # set right: a step back of the wall clock only
    assert abs(clock.now() - tracker_time) <= 1  # within a second of the trackers (then this clock is used)
    assert clock.offset == pytest.approx(clock.now() - c.wall)
    assert abs(clock.offset) <= 1


@pytest.mark.parametrize("header", [None, "", "yesterday", "Mon, 99 Foo 2026 25:61:00 GMT", "\x00" * 40])
def test_a_date_header_that_is_no_date_is_ignored(header: str | None) -> None:
    c = Clocks()
    clock = c.clock()
    for _ in range(AT_LEAST):
        clock.heard(header)
    assert clock.offset == 0.0


def test_a_date_without_a_zone_is_gmt_not_this_machine_s_zone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "Asia/Tokyo")
    time.tzset()
    try:
        c = Clocks()
        clock = c.clock()
        for _ in range(AT_LEAST):
            clock.heard(date_header(c.wall).replace("GMT", "-0000"))
        assert clock.offset == 0.0  # not 9 hours
    finally:
        monkeypatch.undo()
        time.tzset()


def test_the_warning_says_which_way_the_clock_is_off() -> None:
    assert skew_words(-400) == "this computer's clock is 6 min 40 s ahead of the trackers'"
    assert skew_words(45) == "this computer's clock is 45 s behind the trackers'"
