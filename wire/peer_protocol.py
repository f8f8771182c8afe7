"""The peer piece protocol: messages, their binary form, and an incremental zero-copy frame receiver (sans-IO).

Theory of operation: every frame is ``u32 length | u8 type | payload`` (big-endian); ``length`` counts the type
byte and the payload. The receiver checks ``length`` against the maximum of that frame type as soon as the five
header bytes are in, before any of the body is read, so a peer claiming 4 GiB costs us five bytes. Frames other
than PIECE are small and are assembled in a bounded scratch buffer. A PIECE body can be large (up to
``MAX_BLOCK``): once its 8-byte prefix (index, begin) is in, the receiver asks a *sink* where the body belongs and
then hands out that memory itself from ``get_buffer`` so the kernel writes the bytes straight into the piece
buffer (the shape of ``asyncio.BufferedProtocol``): no copy, no ``bytes`` object per block.

No sockets and no clocks here: the asyncio adapters live in ``peer_node.swarm``; the legal order of messages is
``wire.peer_session``. Every error a peer can cause is a ``ProtocolError``.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum

from wire.errors import BadInput
from wire.tokens import MAX_TOKEN_BYTES

MAGIC = b"GSP1"
VERSION = 1
MAX_BLOCK = 1 << 20  # largest PIECE body and REQUEST length
MAX_BITFIELD = 1 << 20  # bytes: 8 M pieces, far beyond any file's piece count
MAX_REASON = 256  # GOODBYE reason, bytes of UTF-8
MAX_REQUESTS_IN_FLIGHT = 64  # a client never has more REQUESTs unanswered; a server must accept this many
MAX_CERT = 4096  # DER certificate a TLS client presents in its handshake
MAX_PROOF = 512  # its signature over the TLS channel binding
MAX_U32 = 0xFFFFFFFF

_HEADER = struct.Struct(">IB")
_U32 = struct.Struct(">I")
_U16 = struct.Struct(">H")
_TRIPLE = struct.Struct(">III")
_PIECE_PREFIX = struct.Struct(">II")
_HANDSHAKE_FIXED = struct.Struct(">4sH32s")
HEADER_SIZE = _HEADER.size
PIECE_PREFIX_SIZE = HEADER_SIZE + _PIECE_PREFIX.size


class ProtocolError(BadInput):
    """The peer broke the protocol: the connection it came on is closed, nothing else is affected."""

    code = "protocol_error"


class MsgType(IntEnum):
    HANDSHAKE = 0
    BITFIELD = 1
    HAVE = 2
    REQUEST = 3
    PIECE = 4
    CANCEL = 5
    REJECT = 6
    KEEPALIVE = 7
    GOODBYE = 8


# Largest legal ``length`` field (type byte included) per type: checked before the body is read.
MAX_LENGTH: dict[MsgType, int] = {
    MsgType.HANDSHAKE: 1 + _HANDSHAKE_FIXED.size + 6 + MAX_TOKEN_BYTES + MAX_CERT + MAX_PROOF,
    MsgType.BITFIELD: 1 + MAX_BITFIELD,
    MsgType.HAVE: 1 + 4,
    MsgType.REQUEST: 1 + 12,
    MsgType.PIECE: 1 + 8 + MAX_BLOCK,
    MsgType.CANCEL: 1 + 12,
    MsgType.REJECT: 1 + 12,
    MsgType.KEEPALIVE: 1,
    MsgType.GOODBYE: 1 + MAX_REASON,
}
MAX_FRAME = HEADER_SIZE - 1 + max(MAX_LENGTH.values())


def _check_u32(value: int, what: str) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_U32:
        raise ProtocolError(f"{what} out of range")


@dataclass(frozen=True, slots=True)
class Handshake:
    """The client's opening. Under TLS it also carries the client's certificate and its signature over the TLS
    channel binding (proof that this connection's client holds the certificate's key); empty otherwise."""

    file_sha256: bytes  # 32 raw bytes
    token: bytes  # ASCII token as minted by a tracker
    version: int = VERSION
    cert: bytes = b""
    proof: bytes = b""

    def __post_init__(self) -> None:
        if len(self.file_sha256) != 32:
            raise ProtocolError("handshake file id must be 32 bytes")
        if len(self.token) > MAX_TOKEN_BYTES:
            raise ProtocolError("handshake token too long")
        if len(self.cert) > MAX_CERT or len(self.proof) > MAX_PROOF:
            raise ProtocolError("handshake certificate or proof too long")
        if not 0 <= self.version <= 0xFFFF:
            raise ProtocolError("handshake version out of range")


@dataclass(frozen=True, slots=True)
class Bitfield:
    bits: bytes

    def __post_init__(self) -> None:
        if len(self.bits) > MAX_BITFIELD:
            raise ProtocolError("bitfield too long")


@dataclass(frozen=True, slots=True)
class Have:
    index: int

    def __post_init__(self) -> None:
        _check_u32(self.index, "piece index")


@dataclass(frozen=True, slots=True)
class _Block:
    index: int
    begin: int
    length: int

    def __post_init__(self) -> None:
        _check_u32(self.index, "piece index")
        _check_u32(self.begin, "block offset")
        if not isinstance(self.length, int) or not 0 < self.length <= MAX_BLOCK:
            raise ProtocolError(f"block length must be 1..{MAX_BLOCK}")

    @property
    def key(self) -> tuple[int, int, int]:
        return (self.index, self.begin, self.length)


@dataclass(frozen=True, slots=True)
class Request(_Block):
    pass


@dataclass(frozen=True, slots=True)
class Cancel(_Block):
    pass


@dataclass(frozen=True, slots=True)
class Reject(_Block):
    """The server will not send this block now: it lacks the piece (a partial holder), or, from a whole-file
    seeder, it gave the piece to another downloader of a crowd; fetch it from them, ask again later if not."""


@dataclass(frozen=True, slots=True)
class Piece:
    """A block with its bytes (the receiver emits this only when no sink took the body)."""

    index: int
    begin: int
    data: bytes

    def __post_init__(self) -> None:
        _check_u32(self.index, "piece index")
        _check_u32(self.begin, "block offset")
        if not 0 < len(self.data) <= MAX_BLOCK:
            raise ProtocolError(f"block length must be 1..{MAX_BLOCK}")

    @property
    def key(self) -> tuple[int, int, int]:
        return (self.index, self.begin, len(self.data))


@dataclass(frozen=True, slots=True)
class PieceReceived:
    """Not a message but a receiver event: a PIECE body now sits in the memory the sink handed out."""

    index: int
    begin: int
    length: int

    @property
    def key(self) -> tuple[int, int, int]:
        return (self.index, self.begin, self.length)


@dataclass(frozen=True, slots=True)
class KeepAlive:
    pass


@dataclass(frozen=True, slots=True)
class Goodbye:
    reason: str

    def __post_init__(self) -> None:
        if len(self.reason.encode("utf-8", "replace")) > MAX_REASON:
            raise ProtocolError("goodbye reason too long")


Message = Handshake | Bitfield | Have | Request | Piece | Cancel | Reject | KeepAlive | Goodbye
Event = Message | PieceReceived


def _frame(kind: MsgType, payload: bytes) -> bytes:
    return _HEADER.pack(1 + len(payload), kind) + payload


def encode(msg: Message) -> bytes:
    """The frame bytes of ``msg``."""
    if isinstance(msg, Handshake):
        parts = [_HANDSHAKE_FIXED.pack(MAGIC, msg.version, msg.file_sha256)]
        for field in (msg.token, msg.cert, msg.proof):
            parts += [_U16.pack(len(field)), field]
        return _frame(MsgType.HANDSHAKE, b"".join(parts))
    if isinstance(msg, Bitfield):
        return _frame(MsgType.BITFIELD, msg.bits)
    if isinstance(msg, Have):
        return _frame(MsgType.HAVE, _U32.pack(msg.index))
    if isinstance(msg, Request):
        return _frame(MsgType.REQUEST, _TRIPLE.pack(msg.index, msg.begin, msg.length))
    if isinstance(msg, Cancel):
        return _frame(MsgType.CANCEL, _TRIPLE.pack(msg.index, msg.begin, msg.length))
    if isinstance(msg, Reject):
        return _frame(MsgType.REJECT, _TRIPLE.pack(msg.index, msg.begin, msg.length))
    if isinstance(msg, Piece):
        return encode_piece_header(msg.index, msg.begin, len(msg.data)) + msg.data
    if isinstance(msg, KeepAlive):
        return _frame(MsgType.KEEPALIVE, b"")
    return _frame(MsgType.GOODBYE, msg.reason.encode("utf-8", "replace"))


_REQUEST_FRAME = struct.Struct(">IBIII")


def encode_request(index: int, begin: int, length: int) -> bytes:
    """REQUEST frame, fast path for callers that checked the ranges (``wire.peer_session``)."""
    return _REQUEST_FRAME.pack(13, MsgType.REQUEST, index, begin, length)


def encode_piece_header(index: int, begin: int, length: int) -> bytes:
    """Header and prefix of a PIECE frame whose ``length`` body bytes follow (sent with sendfile)."""
    _check_u32(index, "piece index")
    _check_u32(begin, "block offset")
    if not 0 < length <= MAX_BLOCK:
        raise ProtocolError(f"block length must be 1..{MAX_BLOCK}")
    return _HEADER.pack(9 + length, MsgType.PIECE) + _PIECE_PREFIX.pack(index, begin)


def check_frame_header(length: int, kind: int) -> MsgType:
    """Validate a frame header before its body is read."""
    try:
        msg_type = MsgType(kind)
    except ValueError:
        raise ProtocolError(f"unknown frame type {kind}") from None
    if length < 1 or length > MAX_LENGTH[msg_type]:
        raise ProtocolError(f"{msg_type.name} frame of {length} bytes is out of bounds")
    return msg_type


def decode_body(kind: MsgType, body: bytes | memoryview) -> Message:
    """Decode the payload of one frame (everything after the type byte)."""
    body = bytes(body)
    if kind is MsgType.HANDSHAKE:
        if len(body) < _HANDSHAKE_FIXED.size:
            raise ProtocolError("short handshake")
        magic, version, sha = _HANDSHAKE_FIXED.unpack_from(body)
        if magic != MAGIC:
            raise ProtocolError("not a GroupShare peer (bad magic)")
        fields, pos = [], _HANDSHAKE_FIXED.size
        for _ in range(3):
            if pos + 2 > len(body):
                raise ProtocolError("short handshake")
            (size,) = _U16.unpack_from(body, pos)
            if pos + 2 + size > len(body):
                raise ProtocolError("short handshake")
            fields.append(body[pos + 2:pos + 2 + size])
            pos += 2 + size
        if pos != len(body):
            raise ProtocolError("trailing bytes in handshake")
        return Handshake(sha, fields[0], version, fields[1], fields[2])
    if kind is MsgType.BITFIELD:
        return Bitfield(body)
    if kind is MsgType.HAVE:
        if len(body) != 4:
            raise ProtocolError("HAVE wants 4 bytes")
        return Have(_U32.unpack(body)[0])
    if kind in (MsgType.REQUEST, MsgType.CANCEL, MsgType.REJECT):
        if len(body) != 12:
            raise ProtocolError(f"{kind.name} wants 12 bytes")
        index, begin, length = _TRIPLE.unpack(body)
        if kind is MsgType.REQUEST:
            return Request(index, begin, length)
        return Cancel(index, begin, length) if kind is MsgType.CANCEL else Reject(index, begin, length)
    if kind is MsgType.PIECE:
        if len(body) < 9:
            raise ProtocolError("PIECE without data")
        index, begin = _PIECE_PREFIX.unpack_from(body)
        return Piece(index, begin, body[8:])
    if kind is MsgType.KEEPALIVE:
        if body:
            raise ProtocolError("KEEPALIVE carries no payload")
        return KeepAlive()
    try:
        return Goodbye(body.decode("utf-8"))
    except UnicodeDecodeError:
        raise ProtocolError("goodbye reason is not UTF-8") from None


PieceSink = Callable[[int, int, int], memoryview | None]
"""``sink(index, begin, length)`` returns writable memory of exactly ``length`` bytes for a PIECE body, or None to
have the receiver allocate it and emit a ``Piece``. It may raise ProtocolError (a block nobody asked for)."""


class FrameReceiver:
    """Incremental decoder fed through ``get_buffer``/``buffer_updated`` (or ``feed`` for plain bytes).

    Memory is bounded: the scratch buffer grows at most to the largest non-PIECE frame (~1 MiB) and shrinks back.
    """

    _SCRATCH = 64 * 1024

    def __init__(self, piece_sink: PieceSink | None = None, *, accept_pieces: bool = True) -> None:
        self._sink = piece_sink
        self._accept_pieces = accept_pieces
        self._buf = bytearray(self._SCRATCH)
        self._start = 0  # first unconsumed byte of _buf
        self._end = 0  # end of received bytes in _buf
        self._direct: memoryview | None = None  # piece body target while receiving a body directly
        self._direct_filled = 0
        self._direct_event: Event | None = None
        self._direct_owned: bytearray | None = None
        self._pending_index = (0, 0)

    # --- the BufferedProtocol shape -------------------------------------------------------------------------
    def get_buffer(self) -> memoryview:
        """Memory that the next received bytes must be written to (never empty)."""
        if self._direct is not None:
            return self._direct[self._direct_filled:]
        if self._end == len(self._buf):
            self._make_room(1)
        return memoryview(self._buf)[self._end:]

    def buffer_updated(self, nbytes: int) -> list[Event]:
        """``nbytes`` were written at the start of the last ``get_buffer``; return the completed events."""
        events: list[Event] = []
        if self._direct is not None:
            self._direct_filled += nbytes
            if self._direct_filled < len(self._direct):
                return events
            self._finish_direct(events)
        else:
            self._end += nbytes
        self._parse(events)
        return events

    def feed(self, data: bytes | bytearray | memoryview) -> list[Event]:
        """Feed plain bytes (tests, non-buffered transports)."""
        events: list[Event] = []
        view = memoryview(data)
        while view:
            target = self.get_buffer()
            n = min(len(target), len(view))
            target[:n] = view[:n]
            view = view[n:]
            events.extend(self.buffer_updated(n))
        return events

    @property
    def buffered(self) -> int:
        """Bytes received but not yet part of a complete frame (for idle accounting and tests)."""
        return self._end - self._start + self._direct_filled

    # --- internals ------------------------------------------------------------------------------------------
    def _make_room(self, need: int) -> None:
        """Ensure ``need`` bytes fit after ``_start`` in the scratch buffer: compact, grow, or shrink back."""
        pending = self._end - self._start
        size = max(self._SCRATCH, need)
        if size > len(self._buf) or (len(self._buf) > self._SCRATCH and pending <= self._SCRATCH // 2):
            fresh = bytearray(max(size, pending + 1))
            fresh[:pending] = self._buf[self._start:self._end]
            self._buf = fresh
        elif self._start:
            self._buf[:pending] = self._buf[self._start:self._end]
        self._start, self._end = 0, pending

    def _parse(self, events: list[Event]) -> None:
        buf = self._buf
        while self._direct is None:
            avail = self._end - self._start
            if avail < HEADER_SIZE:
                break
            length, kind = _HEADER.unpack_from(buf, self._start)
            msg_type = check_frame_header(length, kind)
            if msg_type is MsgType.PIECE:
                if not self._accept_pieces:
                    raise ProtocolError("unexpected PIECE frame")
                if length < 10:
                    raise ProtocolError("PIECE without data")
                if avail < PIECE_PREFIX_SIZE:
                    self._want(PIECE_PREFIX_SIZE)
                    break
                self._begin_piece(length - 9, events)
                continue
            total = HEADER_SIZE - 1 + length
            if avail < total:
                self._want(total)
                break
            body = memoryview(buf)[self._start + HEADER_SIZE:self._start + total]
            events.append(decode_body(msg_type, body))
            body.release()
            self._start += total
        if self._start == self._end:
            self._start = self._end = 0
            if len(self._buf) > self._SCRATCH:
                self._buf = bytearray(self._SCRATCH)

    def _want(self, total: int) -> None:
        if self._start + total > len(self._buf):
            self._make_room(total)

    def _begin_piece(self, data_len: int, events: list[Event]) -> None:
        index, begin = _PIECE_PREFIX.unpack_from(self._buf, self._start + HEADER_SIZE)
        self._start += PIECE_PREFIX_SIZE
        target = self._sink(index, begin, data_len) if self._sink is not None else None
        if target is None:
            self._direct_owned = bytearray(data_len)
            target = memoryview(self._direct_owned)
            self._direct_event = None
        else:
            if len(target) != data_len:
                raise ValueError("piece sink returned memory of the wrong size")
            self._direct_event = PieceReceived(index, begin, data_len)
        # Bytes of the body that arrived with the header sit in scratch: move them, the rest goes direct.
        have = min(self._end - self._start, data_len)
        target[:have] = memoryview(self._buf)[self._start:self._start + have]
        self._start += have
        self._direct, self._direct_filled = target, have
        self._pending_index = (index, begin)
        if have == data_len:
            self._finish_direct(events)

    def _finish_direct(self, events: list[Event]) -> None:
        if self._direct_event is not None:
            events.append(self._direct_event)
        else:
            assert self._direct_owned is not None
            index, begin = self._pending_index
            events.append(Piece(index, begin, bytes(self._direct_owned)))
        self._direct = None
        self._direct_event = None
        self._direct_owned = None
        self._direct_filled = 0
