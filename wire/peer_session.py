"""The legal order of peer messages: one state machine per connection, for either end (sans-IO).

Theory of operation: the client opens with HANDSHAKE; the server answers BITFIELD (accepted) or GOODBYE
(refused). Then the client sends REQUEST and CANCEL, the server sends PIECE, REJECT and HAVE; either may send
KEEPALIVE or GOODBYE. Both ends track the blocks requested and not yet answered, so a PIECE nobody asked for, a
duplicate request, a block outside the file or more outstanding requests than allowed is a ``ProtocolError``
the moment it appears. A block the client cancelled may still arrive (the server may have sent it already): it
is accepted and reported as cancelled so the caller discards it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from wire.peer_protocol import (
    MAX_BLOCK,
    Bitfield,
    Cancel,
    Event,
    Goodbye,
    Handshake,
    Have,
    KeepAlive,
    Piece,
    PieceReceived,
    ProtocolError,
    Reject,
    Request,
    encode,
    encode_piece_header,
    encode_request,
)
from wire.pieces import piece_count, piece_length

BlockKey = tuple[int, int, int]  # (index, begin, length)


class Role(Enum):
    CLIENT = "client"
    SERVER = "server"


class State(Enum):
    START = "start"
    HANDSHAKE_SENT = "handshake sent"  # client
    HANDSHAKE_RECEIVED = "handshake received"  # server, deciding
    READY = "ready"
    CLOSED = "closed"


@dataclass(frozen=True, slots=True)
class Geometry:
    """The piece layout of one file, for range checks."""

    size: int
    piece_size: int

    @property
    def count(self) -> int:
        return piece_count(self.size, self.piece_size)

    @property
    def bitfield_len(self) -> int:
        return (self.count + 7) // 8

    def check_index(self, index: int) -> None:
        if not 0 <= index < self.count:
            raise ProtocolError(f"piece {index} outside the file")

    def check_block(self, index: int, begin: int, length: int) -> None:
        self.check_index(index)
        if not 0 < length <= MAX_BLOCK or begin < 0 or begin + length > piece_length(index, self.size,
                                                                                     self.piece_size):
            raise ProtocolError(f"block {begin}+{length} outside piece {index}")

    def check_bitfield(self, bits: bytes) -> None:
        if len(bits) != self.bitfield_len:
            raise ProtocolError(f"bitfield of {len(bits)} bytes, want {self.bitfield_len}")
        spare = self.bitfield_len * 8 - self.count
        if spare and bits[-1] & ((1 << spare) - 1):
            raise ProtocolError("bitfield sets bits past the last piece")


class PeerSession:
    """Tracks one connection's state; ``send_*`` return the bytes to write, ``receive`` validates an event."""

    def __init__(self, role: Role, *, max_outstanding: int = 64) -> None:
        self.role = role
        self.state = State.START
        self.max_outstanding = max_outstanding
        self.geometry: Geometry | None = None
        self.handshake: Handshake | None = None
        self._outstanding: dict[BlockKey, bool] = {}  # key -> cancelled (client side)

    # --- both ends ----------------------------------------------------------------------------------------
    @property
    def outstanding(self) -> int:
        return len(self._outstanding)

    def is_outstanding(self, key: BlockKey) -> bool:
        return key in self._outstanding

    def goodbye(self, reason: str) -> bytes:
        self.state = State.CLOSED
        return encode(Goodbye(reason[:200]))

    def keepalive(self) -> bytes:
        self._require(State.READY, "KEEPALIVE")
        return encode(KeepAlive())

    def _require(self, state: State, what: str | Event) -> None:
        if self.state is not state:
            name = what if isinstance(what, str) else type(what).__name__.upper()
            raise ProtocolError(f"{name} not allowed in state {self.state.value}")

    def _geometry(self) -> Geometry:
        assert self.geometry is not None  # set before READY
        return self.geometry

    # --- client -------------------------------------------------------------------------------------------
    def start(self, handshake: Handshake, geometry: Geometry) -> bytes:
        self._role(Role.CLIENT)
        self._require(State.START, "HANDSHAKE")
        self.handshake, self.geometry = handshake, geometry
        self.state = State.HANDSHAKE_SENT
        return encode(handshake)

    def request(self, index: int, begin: int, length: int) -> bytes:
        self._role(Role.CLIENT)
        self._require(State.READY, "REQUEST")
        self._geometry().check_block(index, begin, length)
        key = (index, begin, length)
        if key in self._outstanding:
            raise ProtocolError(f"block {key} already requested")
        if len(self._outstanding) >= self.max_outstanding:
            raise ProtocolError("too many outstanding requests")
        self._outstanding[key] = False
        return encode_request(index, begin, length)

    def cancel(self, index: int, begin: int, length: int) -> bytes | None:
        """Mark a request cancelled; None when it is no longer outstanding (nothing to send)."""
        self._role(Role.CLIENT)
        key = (index, begin, length)
        if self.state is not State.READY or self._outstanding.get(key, True):
            return None
        self._outstanding[key] = True
        return encode(Cancel(index, begin, length))

    def block_status(self, index: int, begin: int, length: int) -> bool:
        """For a PIECE about to be received: True if it was cancelled; ProtocolError if nobody asked for it."""
        cancelled = self._outstanding.get((index, begin, length))
        if cancelled is None or self.state is not State.READY:
            raise ProtocolError(f"unrequested block {(index, begin, length)}")
        return cancelled

    # --- server -------------------------------------------------------------------------------------------
    def accept(self, geometry: Geometry, bitfield: bytes) -> bytes:
        self._role(Role.SERVER)
        self._require(State.HANDSHAKE_RECEIVED, "BITFIELD")
        geometry.check_bitfield(bitfield)
        self.geometry = geometry
        self.state = State.READY
        return encode(Bitfield(bitfield))

    def have(self, index: int) -> bytes:
        self._role(Role.SERVER)
        self._require(State.READY, "HAVE")
        self._geometry().check_index(index)
        return encode(Have(index))

    def piece_header(self, key: BlockKey) -> bytes:
        """Header of the PIECE answering ``key``; its ``key[2]`` data bytes must follow at once."""
        self._role(Role.SERVER)
        self._answer(key)
        return encode_piece_header(*key)

    def reject(self, key: BlockKey) -> bytes:
        self._role(Role.SERVER)
        self._answer(key)
        return encode(Reject(*key))

    def _answer(self, key: BlockKey) -> None:
        self._require(State.READY, "answer")
        if self._outstanding.pop(key, None) is None:
            raise ProtocolError(f"block {key} was not requested")

    # --- receiving ----------------------------------------------------------------------------------------
    def receive(self, event: Event) -> bool:
        """Validate an incoming event and update the state. Returns False only for a PIECE (or REJECT) of a
        cancelled request, which the caller should ignore; True otherwise."""
        if type(event) is PieceReceived and self.state is State.READY and self.role is Role.CLIENT:
            # The hot path (one per block received): a dict lookup, nothing else.
            cancelled = self._outstanding.pop((event.index, event.begin, event.length), None)
            if cancelled is None:
                raise ProtocolError(f"unrequested block {event.key}")
            return not cancelled
        if self.state is State.CLOSED:
            raise ProtocolError("message after GOODBYE")
        if isinstance(event, Goodbye):
            self.state = State.CLOSED
            return True
        if isinstance(event, KeepAlive) and self.state in (State.READY, State.HANDSHAKE_SENT):
            return True
        if self.role is Role.SERVER:
            return self._server_receive(event)
        return self._client_receive(event)

    def _server_receive(self, event: Event) -> bool:
        if self.state is State.START:
            if not isinstance(event, Handshake):
                raise ProtocolError("expected HANDSHAKE first")
            self.handshake = event
            self.state = State.HANDSHAKE_RECEIVED
            return True
        self._require(State.READY, event)
        if isinstance(event, Request):
            self._geometry().check_block(*event.key)
            if event.key in self._outstanding:
                raise ProtocolError(f"block {event.key} requested twice")
            if len(self._outstanding) >= self.max_outstanding:
                raise ProtocolError("too many outstanding requests")
            self._outstanding[event.key] = False
            return True
        if isinstance(event, Cancel):
            # A cancel racing with our answer is normal: nothing to drop then.
            self._outstanding.pop(event.key, None)
            return True
        raise ProtocolError(f"a client may not send {type(event).__name__.upper()}")

    def _client_receive(self, event: Event) -> bool:
        if self.state is State.HANDSHAKE_SENT:
            if not isinstance(event, Bitfield):
                raise ProtocolError("expected BITFIELD or GOODBYE after HANDSHAKE")
            self._geometry().check_bitfield(event.bits)
            self.state = State.READY
            return True
        self._require(State.READY, event)
        if isinstance(event, Have):
            self._geometry().check_index(event.index)
            return True
        if isinstance(event, Piece | PieceReceived | Reject):
            cancelled = self.block_status(*event.key)
            del self._outstanding[event.key]
            return not cancelled
        raise ProtocolError(f"a server may not send {type(event).__name__.upper()}")

    def _role(self, role: Role) -> None:
        if self.role is not role:
            raise ProtocolError(f"only a {role.value} does that")
