"""The incremental, zero-copy receiver of the peer protocol's frames (sans-IO; the frames: ``wire.peer_protocol``).

Theory of operation: the receiver checks a frame's ``length`` against the maximum of its type as soon as the five
header bytes are in, before any of the body is read, so a peer claiming 4 GiB costs us five bytes. Frames other
than PIECE are small and are assembled in a bounded scratch buffer; a type the other side never sends
(``accept``) is refused from its header alone. A PIECE body can be large (up to
``MAX_BLOCK``): once its 8-byte prefix (index, begin) is in, the receiver asks a *sink* where the body belongs and
then hands out that memory itself from ``get_buffer`` so the kernel writes the bytes straight into the piece
buffer (the shape of ``asyncio.BufferedProtocol``): no copy, no ``bytes`` object per block.
"""

from __future__ import annotations

from collections.abc import Callable

from wire.peer_protocol import (
    FRAME_HEADER,
    HEADER_SIZE,
    PIECE_PREFIX,
    PIECE_PREFIX_SIZE,
    Event,
    MsgType,
    Piece,
    PieceReceived,
    ProtocolError,
    check_frame_header,
    decode_body,
)

PieceSink = Callable[[int, int, int], memoryview | None]
"""``sink(index, begin, length)`` returns writable memory of exactly ``length`` bytes for a PIECE body, or None to
have the receiver allocate it and emit a ``Piece``. It may raise ProtocolError (a block nobody asked for)."""


class FrameReceiver:
    """Incremental decoder fed through ``get_buffer``/``buffer_updated`` (or ``feed`` for plain bytes).

    Memory is bounded: the scratch buffer grows at most to the largest non-PIECE frame (~1 MiB) and shrinks back.
    """

    _SCRATCH = 64 * 1024

    def __init__(self, piece_sink: PieceSink | None = None, *, accept: frozenset[MsgType] | None = None) -> None:
        """``accept``: the frame types the other side may send (``FROM_CLIENT``, ``FROM_SERVER``); None: all."""
        self._sink = piece_sink
        self._accept = accept
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
    def current_block(self) -> tuple[int, int, int] | None:
        """(index, begin, length) of the PIECE body on its way into a sink's memory right now, if one is."""
        event = self._direct_event
        return event.key if self._direct is not None and isinstance(event, PieceReceived) else None

    def divert(self, into: memoryview) -> None:
        """The rest of the current PIECE body goes to ``into`` (as long as the body) instead of the memory its
        sink gave: that memory's owner took it back (a cancelled request) and may hand it to another piece."""
        if self._direct is None or len(into) != len(self._direct):
            raise ValueError("divert: no PIECE body on its way, or memory of the wrong size")
        self._direct = into

    def drop(self) -> None:
        """The connection is over: let go of the memory a PIECE body was on its way into (a sink's piece buffer,
        which its pool frees at once only while no view of it is held)."""
        self._direct = self._direct_event = self._direct_owned = None
        self._direct_filled = 0

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
            length, kind = FRAME_HEADER.unpack_from(buf, self._start)
            msg_type = check_frame_header(length, kind)
            if self._accept is not None and msg_type not in self._accept:
                raise ProtocolError(f"unexpected {msg_type.name} frame")
            if msg_type is MsgType.PIECE:
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
        index, begin = PIECE_PREFIX.unpack_from(self._buf, self._start + HEADER_SIZE)
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
