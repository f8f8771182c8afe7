"""The peer piece protocol: messages and their binary form (sans-IO); ``wire.frame_receiver`` decodes a stream.

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
from wire.safe_text import printable
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

FRAME_HEADER = struct.Struct(">IB")
_U32 = struct.Struct(">I")
_U16 = struct.Struct(">H")
_TRIPLE = struct.Struct(">III")
PIECE_PREFIX = struct.Struct(">II")
_HANDSHAKE_FIXED = struct.Struct(">4sH32s")
HEADER_SIZE = FRAME_HEADER.size
PIECE_PREFIX_SIZE = HEADER_SIZE + PIECE_PREFIX.size


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
# What each side may send at all (``peer_session`` says when). A receiver refuses any other type from its header
# alone, before it makes room for the body: a client's 5-byte claim of a 1 MiB BITFIELD costs a server nothing.
FROM_CLIENT = frozenset({MsgType.HANDSHAKE, MsgType.REQUEST, MsgType.CANCEL, MsgType.KEEPALIVE, MsgType.GOODBYE})
FROM_SERVER = frozenset({MsgType.BITFIELD, MsgType.HAVE, MsgType.PIECE, MsgType.REJECT, MsgType.KEEPALIVE,
                         MsgType.GOODBYE})


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
    return FRAME_HEADER.pack(1 + len(payload), kind) + payload


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
    return FRAME_HEADER.pack(9 + length, MsgType.PIECE) + PIECE_PREFIX.pack(index, begin)


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
    return _DECODERS[kind](bytes(body))


def _decode_handshake(body: bytes) -> Message:
    if len(body) < _HANDSHAKE_FIXED.size:
        raise ProtocolError("short handshake")
    magic, version, sha = _HANDSHAKE_FIXED.unpack_from(body)
    if magic != MAGIC:
        raise ProtocolError("not a GroupShare peer (bad magic)")
    fields, pos = [], _HANDSHAKE_FIXED.size
    for _ in range(3):  # token, certificate, proof: each a u16 length and its bytes
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


def _decode_have(body: bytes) -> Message:
    if len(body) != 4:
        raise ProtocolError("HAVE wants 4 bytes")
    return Have(_U32.unpack(body)[0])


def _triple_decoder(kind: MsgType, make: type[Request] | type[Cancel] | type[Reject]) -> Callable[[bytes], Message]:
    """REQUEST, CANCEL and REJECT share one body: index, begin, length."""
    def decode(body: bytes) -> Message:
        if len(body) != 12:
            raise ProtocolError(f"{kind.name} wants 12 bytes")
        return make(*_TRIPLE.unpack(body))
    return decode


def _decode_piece(body: bytes) -> Message:
    if len(body) < 9:
        raise ProtocolError("PIECE without data")
    index, begin = PIECE_PREFIX.unpack_from(body)
    return Piece(index, begin, body[8:])


def _decode_keepalive(body: bytes) -> Message:
    if body:
        raise ProtocolError("KEEPALIVE carries no payload")
    return KeepAlive()


def _decode_goodbye(body: bytes) -> Message:
    try:
        return Goodbye(printable(body.decode("utf-8")))  # shown to the user: no escape codes (wire.safe_text)
    except UnicodeDecodeError:
        raise ProtocolError("goodbye reason is not UTF-8") from None


_DECODERS: dict[MsgType, Callable[[bytes], Message]] = {
    MsgType.HANDSHAKE: _decode_handshake,
    MsgType.BITFIELD: Bitfield,
    MsgType.HAVE: _decode_have,
    MsgType.REQUEST: _triple_decoder(MsgType.REQUEST, Request),
    MsgType.PIECE: _decode_piece,
    MsgType.CANCEL: _triple_decoder(MsgType.CANCEL, Cancel),
    MsgType.REJECT: _triple_decoder(MsgType.REJECT, Reject),
    MsgType.KEEPALIVE: _decode_keepalive,
    MsgType.GOODBYE: _decode_goodbye,
}
assert _DECODERS.keys() == set(MsgType)
