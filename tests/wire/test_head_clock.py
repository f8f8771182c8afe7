"""``wire.head_clock``: where request heads start and end in a connection's bytes, fed whole or a byte at a time."""

from __future__ import annotations

import pytest

from wire.head_clock import MAX_HEAD, HeadClock, Phase

GET = b"GET /a HTTP/1.1\r\nHost: h\r\n\r\n"
POST = b"POST /b HTTP/1.1\r\nHost: h\r\nContent-Length: 7\r\n\r\n\r\n\r\nabc"  # a body that looks like line ends


def test_a_new_connection_has_its_first_byte_deadline_then_its_heads_own() -> None:
    clock = HeadClock(20.0, first_byte=(100.0, 10.0))
    dues = [clock.due]
    clock.feed(b"GET", 105.0)
    dues.append(clock.due)  # from the head's first byte, not the connection's start
    clock.feed(GET[3:], 130.0)
    dues.append(clock.due)
    assert dues == [110.0, 125.0, None]
    assert clock.phase is Phase.IDLE


@pytest.mark.parametrize("chunk", [1, 2, 3, 1000])
def test_pipelined_heads_and_bodies_are_followed_in_any_chunking(chunk: int) -> None:
    stream = POST + GET + POST + GET[:10]
    clock = HeadClock(5.0)
    dues = []
    for i in range(0, len(stream), chunk):
        clock.feed(stream[i:i + chunk], float(i))
        dues.append(clock.due)
    assert clock.phase is Phase.HEAD  # the last head is not complete
    last_start = len(POST + GET + POST)
    assert clock.due == last_start - last_start % chunk + 5.0
    if chunk == 1:  # byte by byte: no deadline while the first body's seven bytes came
        body_end = len(POST)
        assert dues[body_end - 8:body_end - 1] == [None] * 7


def test_bare_lf_heads_end_too() -> None:
    clock = HeadClock(5.0)
    clock.feed(b"GET / HTTP/1.1\nHost: h\n\n", 0.0)
    assert clock.phase is Phase.IDLE


@pytest.mark.parametrize("head", [b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
                                  b"GET / HTTP/1.1\r\nUpgrade: websocket\r\n\r\n",
                                  b"GET / HTTP/1.1\r\nX: " + b"a" * (MAX_HEAD + 1)])
def test_a_body_it_cannot_skip_or_an_overlong_head_stops_the_clock_for_good(head: bytes) -> None:
    clock = HeadClock(5.0)
    clock.feed(head, 0.0)
    clock.feed(GET[:5], 1.0)
    assert clock.phase is Phase.BLIND and clock.due is None


def test_a_browsers_upgrade_insecure_requests_header_is_no_upgrade() -> None:
    clock = HeadClock(5.0)
    clock.feed(b"GET / HTTP/1.1\r\nHost: h\r\nUpgrade-Insecure-Requests: 1\r\nContent-Length: 2\r\n\r\nab", 0.0)
    assert clock.phase is Phase.IDLE
    clock.feed(GET[:4], 1.0)
    assert clock.due == 6.0
