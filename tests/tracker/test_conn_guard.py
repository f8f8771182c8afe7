"""The pure parts of the connection limits: deadlines, the per-address count, the head-first framing, the log
filter. No sockets (``test_conn_limits.py`` serves them for real)."""

from __future__ import annotations

import logging
import sys

import pytest

from tracker_server.http_frame import Head, Request, Verdict, frame, read_request
from wire.conn_guard import AddressCounts, Cutoffs, Deadlines, OverCapAnswers, key_of
from wire.quiet_log import QuietFilter, Quota

BODY = b'{"holdings": []}'
HEAD = (b"POST /api/v1/heartbeat HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer tok\r\nContent-Length: %d\r\n\r\n"
        % len(BODY))


def test_the_default_deadlines_are_short_but_outlast_an_aiohttp_clients_idle_connection() -> None:
    d = Deadlines()
    assert d.idle <= 75 and d.request <= 30 and d.first_byte <= d.request
    assert d.idle > 15  # aiohttp's client keeps an idle connection 15 s: it closes before the tracker does


def test_cutoffs_are_now_minus_each_deadline() -> None:
    assert Deadlines(first_byte=1, request=2, idle=3).cutoffs(100.0) == Cutoffs(99.0, 98.0, 97.0)
    with pytest.raises(ValueError):
        Deadlines(request=0)


def test_an_address_may_hold_up_to_the_cap_and_a_released_connection_frees_a_place() -> None:
    counts = AddressCounts(cap=2)
    assert counts.admit("a:1.2.3.4") and counts.admit("a:1.2.3.4")
    assert not counts.admit("a:1.2.3.4")
    assert counts.admit("a:5.6.7.8")  # another address has its own count
    counts.release("a:1.2.3.4")
    assert counts.admit("a:1.2.3.4") and counts.held("a:1.2.3.4") == 2


def test_an_address_with_no_open_connection_is_forgotten() -> None:
    counts = AddressCounts(cap=2)
    counts.admit("a:1.2.3.4")
    counts.release("a:1.2.3.4")
    assert len(counts) == 0


def test_ipv6_clients_are_counted_by_their_64_and_ipv4_mapped_ones_as_ipv4() -> None:
    assert key_of(("2001:db8::1", 5, 0, 0)) == key_of(("2001:db8::ffff:1", 6, 0, 0)) != key_of(("2001:db9::1", 5))
    assert key_of(("::ffff:10.0.0.1", 5, 0, 0)) == key_of(("10.0.0.1", 9))
    assert key_of(None) == key_of("") == "a:?"


def test_a_head_is_read_before_its_body_and_says_where_the_body_ends() -> None:
    head = read_request(HEAD + BODY[:3], 1 << 20)
    assert isinstance(head, Head)
    assert (head.method, head.target, head.start, head.size) == ("POST", "/api/v1/heartbeat", len(HEAD),
                                                                 len(HEAD) + len(BODY))
    assert frame(HEAD + BODY[:3], 1 << 20) is Verdict.NEED_MORE
    assert head.request(HEAD + BODY) == frame(HEAD + BODY, 1 << 20)
    assert isinstance(head.request(HEAD + BODY + b"GET"), Request)
    assert read_request(HEAD + BODY, 1 << 20) == frame(HEAD + BODY, 1 << 20)  # whole: the request at once


def test_a_quota_lets_one_through_per_interval_and_counts_the_others() -> None:
    quota = Quota(10.0)
    assert quota.take(0.0) == 0
    assert [quota.take(t) for t in (1.0, 5.0, 9.9)] == [None, None, None]
    assert quota.take(10.0) == 3
    assert quota.take(10.5) is None


def _record(exc: BaseException) -> logging.LogRecord:
    try:
        raise exc
    except BaseException:
        return logging.LogRecord("aiohttp.server", logging.ERROR, __file__, 1, "Error handling request from %s",
                                 ("10.0.0.1",), sys.exc_info())


def test_the_quiet_filter_keeps_one_line_without_traceback_and_says_how_many_it_dropped() -> None:
    now = [0.0]
    quiet = QuietFilter(every=10.0, clock=lambda: now[0])
    first = _record(ValueError("Invalid method encountered:\n\n  b'BOGUS'\n    ^"))
    assert quiet.filter(first)
    assert first.getMessage() == ("Error handling request from 10.0.0.1: ValueError: "
                                  "Invalid method encountered: b'BOGUS' ^")
    assert first.exc_info is None
    assert not any(quiet.filter(_record(ValueError("x"))) for _ in range(5))
    now[0] = 11.0
    later = _record(KeyError())
    assert quiet.filter(later)
    assert later.getMessage() == ("Error handling request from 10.0.0.1: KeyError "
                                  "(5 more such lines dropped in the last 10 s or more)")


def test_over_cap_answers_are_bounded_and_given_back() -> None:
    answers = OverCapAnswers(cap=2)
    assert [answers.take(), answers.take(), answers.take()] == [True, True, False]
    answers.give_back()
    assert answers.take() and not answers.take()
