"""The trackers' time as a node tells it from their answers' ``Date`` headers: a seeder whose clock is minutes off
checks access tokens by it (it refused every token as expired, serving nothing and saying nothing)."""

from __future__ import annotations

import email.utils

import pytest

from peer_node.tracker_clock import TrackerClock, skew_words


def date_header(at: float) -> str:
    return email.utils.formatdate(at, usegmt=True)


def test_the_offset_is_the_median_of_recent_answers_and_none_under_two_seconds() -> None:
    local = 1_000_000.0
    clock = TrackerClock(lambda: local)
    assert clock.offset == 0.0 and clock.now() == local  # nothing heard yet
    for ahead in (-400, -401, -399, 5_000):  # one answer out of line (a slow one, a wrong server) moves nothing
        clock.heard(date_header(local + ahead), local)
    assert -401 <= clock.offset <= -399
    assert -401 <= clock.now() - local <= -399
    steady = TrackerClock(lambda: local)
    for _ in range(3):
        steady.heard(date_header(local + 0.9), local)  # whole seconds: a second off is no skew
    assert steady.offset == 0.0


@pytest.mark.parametrize("header", [None, "", "yesterday", "Mon, 99 Foo 2026 25:61:00 GMT", "\x00" * 40])
def test_a_date_header_that_is_no_date_is_ignored(header: str | None) -> None:
    clock = TrackerClock(lambda: 50.0)
    clock.heard(header, 50.0)
    assert clock.offset == 0.0


def test_the_warning_says_which_way_the_clock_is_off() -> None:
    assert skew_words(-400) == "this computer's clock is 6 min 40 s ahead of the trackers'"
    assert skew_words(45) == "this computer's clock is 45 s behind the trackers'"
