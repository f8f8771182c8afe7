"""Framing of the HTTP/1.1 requests the tracker's fast path answers itself (pure: bytes in, a verdict out).

The fast path (``fastpath.py``) frames requests only in one narrow form it can read without doubt: a request line
``GET|POST <origin-form target> HTTP/1.1``, CRLF line ends, header fields of token names and visible-ASCII values,
each name at most once, ``Host`` among them, a body sized by ``Content-Length`` alone, and ``Connection`` saying at most
``keep-alive`` or ``close``. Anything else is ``HAND_OFF``, valid or not: the connection goes to aiohttp, whose
parser is complete and strict and answers every error. So this module never has to refuse input itself, and a
request with two readings (the stuff of request smuggling: a ``Transfer-Encoding``, a repeated
``Content-Length``, a bare LF) is never read here at all.

``read_request`` returns the head alone while the body is still coming, so that the fast path can decide on a
request before its body is in (refuse a heartbeat with no live session without buffering its body, hand a request
it does not answer to aiohttp at once) and, while a body trickles in, wait for ``Head.size`` bytes instead of
framing the head again per chunk.
"""

from __future__ import annotations

import enum
import re
from typing import NamedTuple

# A head longer than this goes to aiohttp, whose own line limit is 8190 bytes.
MAX_HEAD = 8192
# Header fields that change how the body is framed or what the connection becomes: aiohttp's to handle.
NOT_OURS = frozenset({"transfer-encoding", "content-encoding", "expect", "upgrade"})
# Each pattern is one character class repeated (or fixed text), so matching is linear: no pattern here may have
# two quantifiers that can share a character, which backtracks polynomially on a crafted line (a value of
# thousands of spaces then a control byte took minutes with ``:[ \t]*([ -~\t]*?)[ \t]*``).
_REQUEST_LINE = re.compile(r"(GET|POST) (/[!-~]*) HTTP/1\.1")
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")  # ASCII controls but HT; CR and LF too, outside a line end
_MAX_LENGTH_DIGITS = 18


class Verdict(enum.Enum):
    NEED_MORE = "need more bytes"
    HAND_OFF = "not in the fast path's form"


class Request(NamedTuple):  # a tuple, not a frozen dataclass: built once per request, and that init is slower
    method: str
    target: str
    headers: dict[str, str]  # lower-case names, each present once
    body: bytes
    size: int  # how many bytes of the buffer this request took, head and body
    close: bool  # the client asked for the connection to close after the answer


class Head(NamedTuple):
    """A request's head, read before its body is complete: ``buf[start:size]`` will be the body."""

    method: str
    target: str
    headers: dict[str, str]
    start: int  # where the body starts in the buffer
    size: int  # how many bytes of the buffer the whole request takes
    close: bool

    def request(self, buf: bytes | bytearray) -> Request:
        """The whole request, once ``len(buf) >= self.size``."""
        return Request(self.method, self.target, self.headers, bytes(buf[self.start:self.size]), self.size,
                       self.close)


def frame(buf: bytes | bytearray, max_body: int) -> Request | Verdict:
    """The request at the start of ``buf``, or whether to wait for more bytes or hand the connection off."""
    found = read_request(buf, max_body)
    return Verdict.NEED_MORE if isinstance(found, Head) else found


def read_request(buf: bytes | bytearray, max_body: int) -> Request | Head | Verdict:
    """The request at the start of ``buf`` when its body is in, else its head when that is, else a verdict.

    One call and one tuple for a whole request (the hot case: a heartbeat comes in one read), a ``Head`` only
    for a request whose body is still coming."""
    end = buf.find(b"\r\n\r\n", 0, MAX_HEAD)
    if end < 0:
        if len(buf) >= MAX_HEAD or buf.count(b"\n") != buf.count(b"\r\n"):  # too long, or a bare LF
            return Verdict.HAND_OFF
        return Verdict.NEED_MORE
    try:
        head = bytes(buf[:end]).decode("ascii")
    except UnicodeDecodeError:
        return Verdict.HAND_OFF
    lines = head.split("\r\n")
    line = _REQUEST_LINE.fullmatch(lines[0])
    if line is None or _CONTROL.search(head.replace("\r\n", " ")) is not None:
        return Verdict.HAND_OFF
    headers: dict[str, str] = {}
    for text in lines[1:]:
        name, colon, value = text.partition(":")
        if not colon or _TOKEN.fullmatch(name) is None:
            return Verdict.HAND_OFF
        name = name.lower()
        if name in headers or name in NOT_OURS:
            return Verdict.HAND_OFF
        headers[name] = value.strip(" \t")
    if "host" not in headers:  # HTTP/1.1 requires it, and aiohttp refuses a request without
        return Verdict.HAND_OFF
    close = False
    if "connection" in headers:
        options = {o.strip().lower() for o in headers["connection"].split(",")}
        if not options <= {"keep-alive", "close"}:
            return Verdict.HAND_OFF
        close = "close" in options
    length_text = headers.get("content-length", "0")
    if not (length_text.isdigit() and len(length_text) <= _MAX_LENGTH_DIGITS):  # ASCII already: digits only
        return Verdict.HAND_OFF
    length = int(length_text)
    if length > max_body:  # aiohttp refuses it, in the API's error form
        return Verdict.HAND_OFF
    start = end + 4
    if len(buf) - start >= length:
        return Request(line[1], line[2], headers, bytes(buf[start:start + length]), start + length, close)
    return Head(line[1], line[2], headers, start, start + length, close)
