"""The fast path's framing: what it reads, and that everything outside its narrow form goes to aiohttp."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tracker_server.http_frame import MAX_HEAD, Request, Verdict, frame

MAX_BODY = 1 << 20
BODY = b'{"holdings":[]}'
POST = (b"POST /api/v1/heartbeat HTTP/1.1\r\nHost: 127.0.0.1:7000\r\nAuthorization: Bearer tok\r\n"
        b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(BODY), BODY))
GET = b"GET /api/v1/groups/g1/files HTTP/1.1\r\nHost: x\r\nAuthorization:\tBearer  tok2 \r\n\r\n"


def test_a_post_is_framed_with_its_body_and_lower_case_names() -> None:
    req = frame(POST, MAX_BODY)
    assert isinstance(req, Request)
    assert (req.method, req.target, req.body, req.size, req.close) == ("POST", "/api/v1/heartbeat", BODY,
                                                                        len(POST), False)
    assert req.headers["authorization"] == "Bearer tok"
    assert req.headers["content-length"] == str(len(BODY))


def test_a_get_without_length_has_an_empty_body_and_values_lose_their_outer_whitespace() -> None:
    req = frame(GET, MAX_BODY)
    assert isinstance(req, Request)
    assert (req.method, req.target, req.body, req.size) == ("GET", "/api/v1/groups/g1/files", b"", len(GET))
    assert req.headers["authorization"] == "Bearer  tok2"


def test_pipelined_requests_are_framed_one_at_a_time() -> None:
    first = frame(POST + GET, MAX_BODY)
    assert isinstance(first, Request) and first.size == len(POST)
    second = frame((POST + GET)[first.size:], MAX_BODY)
    assert isinstance(second, Request) and second.target == "/api/v1/groups/g1/files"


@pytest.mark.parametrize(("header", "close"), [
    (b"Connection: close\r\n", True), (b"Connection: Keep-Alive\r\n", False),
    (b"Connection: keep-alive, close\r\n", True), (b"", False)])
def test_connection_close_is_read(header: bytes, close: bool) -> None:
    req = frame(b"GET /x HTTP/1.1\r\nHost: x\r\n" + header + b"\r\n", MAX_BODY)
    assert isinstance(req, Request) and req.close is close


@given(st.integers(min_value=0, max_value=len(POST) - 1))
def test_every_strict_prefix_of_a_request_needs_more(cut: int) -> None:
    assert frame(POST[:cut], MAX_BODY) is Verdict.NEED_MORE


HAND_OFFS = {
    "chunked body": b"POST /api/v1/heartbeat HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "length and chunked": b"POST /a HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "two lengths": b"POST /a HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nabc",
    "a signed length": b"POST /a HTTP/1.1\r\nContent-Length: +2\r\n\r\nab",
    "a length with a space inside": b"POST /a HTTP/1.1\r\nContent-Length: 1 2\r\n\r\n" + b"x" * 12,
    "a huge length": b"POST /a HTTP/1.1\r\nContent-Length: 9999999999999999999\r\n\r\n",
    "a body over the limit": b"POST /a HTTP/1.1\r\nContent-Length: %d\r\n\r\n" % (MAX_BODY + 1),
    "a compressed body": b"POST /a HTTP/1.1\r\nContent-Encoding: gzip\r\nContent-Length: 0\r\n\r\n",
    "expect 100-continue": b"POST /a HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n",
    "an upgrade": b"GET /a HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
    "bare LF line ends": b"GET /a HTTP/1.1\nHost: x\n\n",
    "a bare LF ending the head": b"GET /a HTTP/1.1\r\nHost: x\n\r\n",
    "a folded header": b"GET /a HTTP/1.1\r\nX-A: 1\r\n  2\r\n\r\n",
    "a space before the colon": b"GET /a HTTP/1.1\r\nHost : x\r\n\r\n",
    "a field without a colon": b"GET /a HTTP/1.1\r\nHost\r\n\r\n",
    "a control byte in a value": b"GET /a HTTP/1.1\r\nX-A: a\x00b\r\n\r\n",
    "a lone CR in a value": b"GET /a HTTP/1.1\r\nHost: x\rX-A: 1\r\n\r\n",
    "DEL in a value": b"GET /a HTTP/1.1\r\nHost: x\x7f\r\n\r\n",
    "a non-ASCII value": "GET /a HTTP/1.1\r\nX-A: é\r\n\r\n".encode(),
    "a repeated header": b"GET /a HTTP/1.1\r\nAuthorization: Bearer a\r\nauthorization: Bearer b\r\n\r\n",
    "no Host": b"GET /a HTTP/1.1\r\nAccept: */*\r\n\r\n",
    "HTTP/1.0": b"GET /a HTTP/1.0\r\n\r\n",
    "HEAD": b"HEAD /a HTTP/1.1\r\n\r\n",
    "an absolute target": b"GET http://x/a HTTP/1.1\r\n\r\n",
    "a lower-case method": b"get /a HTTP/1.1\r\n\r\n",
    "an empty line first": b"\r\nGET /a HTTP/1.1\r\n\r\n",
    "two spaces in the request line": b"GET  /a HTTP/1.1\r\n\r\n",
    "a head over the limit": b"GET /a HTTP/1.1\r\nX-A: " + b"a" * MAX_HEAD,
}


@pytest.mark.parametrize("filler", [b" ", b" \t", b"a "])
def test_a_long_value_ending_badly_is_handed_off_without_backtracking(filler: bytes) -> None:
    # An earlier field pattern backtracked polynomially here (minutes at 4,000 spaces): this would hang.
    raw = b"GET /a HTTP/1.1\r\nHost: x\r\nX-A: " + filler * (8000 // len(filler)) + b"\x01\r\n\r\n"
    assert len(raw) < MAX_HEAD and frame(raw, MAX_BODY) is Verdict.HAND_OFF


@pytest.mark.parametrize("raw", HAND_OFFS.values(), ids=HAND_OFFS.keys())
def test_anything_outside_the_narrow_form_is_handed_to_aiohttp(raw: bytes) -> None:
    assert frame(raw, MAX_BODY) is Verdict.HAND_OFF


@given(st.binary(max_size=300), st.binary(max_size=50))
def test_any_bytes_give_a_verdict_and_a_framed_request_does_not_depend_on_what_follows(raw: bytes,
                                                                                       more: bytes) -> None:
    req = frame(raw, MAX_BODY)
    if isinstance(req, Request):
        assert req.size <= len(raw)
        assert frame(raw + more, MAX_BODY) == req


@given(st.sampled_from([b"Authorization: Bearer t\r\n", b"X-Trace: a b\tc\r\n", b"Accept: */*\r\n"]),
       st.binary(min_size=0, max_size=64))
def test_a_body_is_taken_exactly_as_long_as_its_length(header: bytes, body: bytes) -> None:
    raw = b"POST /api/v1/heartbeat HTTP/1.1\r\nHost: x\r\n%sContent-Length: %d\r\n\r\n%s" % (header, len(body), body)
    req = frame(raw + b"GET /next", MAX_BODY)
    assert isinstance(req, Request) and req.body == body and req.size == len(raw)
