"""The peer wire protocol (sans-IO): golden bytes, incremental feeding, round trips, fuzzing, session rules."""

from __future__ import annotations

import contextlib
import mmap
import struct
import tracemalloc

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wire.frame_receiver import FrameReceiver
from wire.peer_protocol import (
    FROM_CLIENT,
    FROM_SERVER,
    MAX_BLOCK,
    MAX_FRAME,
    MAX_LENGTH,
    Bitfield,
    Cancel,
    Goodbye,
    Handshake,
    Have,
    KeepAlive,
    Message,
    MsgType,
    Piece,
    PieceReceived,
    ProtocolError,
    Reject,
    Request,
    encode,
    encode_piece_header,
    encode_request,
)
from wire.peer_session import Geometry, PeerSession, Role, State
from wire.safe_text import printable

SHA = bytes(range(32))

GOLDEN: list[tuple[Message, bytes]] = [
    (Handshake(SHA, b"tok"), b"\x00\x00\x00\x30\x00GSP1\x00\x01" + SHA + b"\x00\x03tok\x00\x00\x00\x00"),
    (Handshake(SHA, b"t", 1, b"C", b"PP"),
     b"\x00\x00\x00\x31\x00GSP1\x00\x01" + SHA + b"\x00\x01t\x00\x01C\x00\x02PP"),
    (Bitfield(b"\xa0"), b"\x00\x00\x00\x02\x01\xa0"),
    (Have(7), b"\x00\x00\x00\x05\x02\x00\x00\x00\x07"),
    (Request(1, 16384, 16384), b"\x00\x00\x00\x0d\x03\x00\x00\x00\x01\x00\x00\x40\x00\x00\x00\x40\x00"),
    (Piece(2, 0, b"abc"), b"\x00\x00\x00\x0c\x04\x00\x00\x00\x02\x00\x00\x00\x00abc"),
    (Cancel(1, 0, 5), b"\x00\x00\x00\x0d\x05\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x05"),
    (Reject(1, 0, 5), b"\x00\x00\x00\x0d\x06\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x05"),
    (KeepAlive(), b"\x00\x00\x00\x01\x07"),
    (Goodbye("bye"), b"\x00\x00\x00\x04\x08bye"),
]


@pytest.mark.parametrize(("msg", "golden"), GOLDEN)
def test_messages_encode_to_golden_bytes(msg: Message, golden: bytes) -> None:
    assert encode(msg) == golden


@pytest.mark.parametrize(("msg", "golden"), GOLDEN)
def test_golden_bytes_decode_even_fed_one_byte_at_a_time(msg: Message, golden: bytes) -> None:
    receiver = FrameReceiver()
    events = []
    for i in range(len(golden)):
        events.extend(receiver.feed(golden[i:i + 1]))
    assert events == [msg]
    assert receiver.buffered == 0


def test_fast_encoders_match_the_message_encoders() -> None:
    assert encode_piece_header(2, 0, 3) + b"abc" == encode(Piece(2, 0, b"abc"))
    assert encode_request(1, 16384, 16384) == encode(Request(1, 16384, 16384))


def test_piece_bodies_go_straight_into_the_sink() -> None:
    target = bytearray(10)
    calls = []

    def sink(index: int, begin: int, length: int) -> memoryview:
        calls.append((index, begin, length))
        return memoryview(target)[begin:begin + length]

    receiver = FrameReceiver(sink)
    stream = encode(Have(1)) + encode(Piece(0, 2, b"hello")) + encode(KeepAlive())
    events = []
    for i in range(0, len(stream), 3):
        events.extend(receiver.feed(stream[i:i + 3]))
    assert events == [Have(1), PieceReceived(0, 2, 5), KeepAlive()]
    assert calls == [(0, 2, 5)]
    assert bytes(target) == b"\0\0hello\0\0\0"


def test_frame_claiming_four_gib_is_refused_from_its_header() -> None:
    receiver = FrameReceiver()
    with pytest.raises(ProtocolError, match="out of bounds"):
        receiver.feed(b"\xff\xff\xff\xff\x04")
    with pytest.raises(ProtocolError, match="out of bounds"):
        FrameReceiver().feed(b"\x00\x10\x00\x0a\x01")  # a 1 MiB+ bitfield


def test_unknown_frame_type_and_bad_magic_are_protocol_errors() -> None:
    with pytest.raises(ProtocolError, match="unknown frame type"):
        FrameReceiver().feed(b"\x00\x00\x00\x01\x63")
    with pytest.raises(ProtocolError, match="magic"):
        FrameReceiver().feed(b"\x00\x00\x00\x30\x00XXXX\x00\x01" + SHA + b"\x00\x03tok\x00\x00\x00\x00")


def test_server_side_receiver_refuses_piece_frames() -> None:
    with pytest.raises(ProtocolError):
        FrameReceiver(accept=FROM_CLIENT).feed(encode(Piece(0, 0, b"x")))


def test_a_frame_type_the_other_side_never_sends_is_refused_from_its_header_alone() -> None:
    server_side = FrameReceiver(accept=FROM_CLIENT)
    tracemalloc.start()
    try:
        with pytest.raises(ProtocolError, match="unexpected BITFIELD frame"):
            server_side.feed(struct.pack(">IB", MAX_LENGTH[MsgType.BITFIELD], int(MsgType.BITFIELD)))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 16 * 1024  # no room made for the megabyte it claimed
    with pytest.raises(ProtocolError, match="unexpected REQUEST frame"):
        FrameReceiver(accept=FROM_SERVER).feed(encode(Request(0, 0, 16384)))
    assert FrameReceiver(accept=FROM_CLIENT).feed(encode(Request(0, 0, 16384))) == [Request(0, 0, 16384)]


def test_only_a_piece_body_on_its_way_can_be_diverted() -> None:
    receiver = FrameReceiver(lambda index, begin, length: memoryview(bytearray(length)))
    blocks = [receiver.current_block]
    with pytest.raises(ValueError):
        receiver.divert(memoryview(bytearray(4)))
    receiver.feed(encode(Piece(2, 0, b"abcdefgh"))[:-4])
    blocks.append(receiver.current_block)
    assert blocks == [None, (2, 0, 8)]
    with pytest.raises(ValueError):
        receiver.divert(memoryview(bytearray(3)))  # not the body's size
    elsewhere = bytearray(8)
    receiver.divert(memoryview(elsewhere))
    assert receiver.feed(b"efgh") == [PieceReceived(2, 0, 8)]
    assert elsewhere[4:] == b"efgh" and receiver.current_block is None



def test_a_dropped_receiver_holds_no_view_of_the_body_it_was_filling() -> None:
    """A link closed mid-block: the piece buffer's mapping must be freeable at once (``buffers.free_buffer``)."""
    mapping = mmap.mmap(-1, 4096, flags=mmap.MAP_PRIVATE)
    receiver = FrameReceiver(lambda index, begin, length: memoryview(mapping)[begin:begin + length])
    receiver.feed(encode(Piece(2, 0, b"abcdefgh"))[:-4])
    with pytest.raises(BufferError):
        mapping.close()  # the half-filled body's view
    receiver.drop()
    mapping.close()
    assert mapping.closed and receiver.current_block is None

u32 = st.integers(0, 0xFFFFFFFF)
block_len = st.integers(1, MAX_BLOCK)
messages = st.one_of(
    st.builds(Handshake, st.binary(min_size=32, max_size=32), st.binary(max_size=2048), st.integers(0, 0xFFFF),
              st.binary(max_size=600), st.binary(max_size=100)),
    st.builds(Bitfield, st.binary(max_size=300)),
    st.builds(Have, u32),
    st.builds(Request, u32, u32, block_len),
    st.builds(Cancel, u32, u32, block_len),
    st.builds(Reject, u32, u32, block_len),
    st.builds(Piece, u32, u32, st.binary(min_size=1, max_size=3000)),
    st.just(KeepAlive()),
    st.builds(Goodbye, st.text(st.characters(exclude_categories=("Cc", "Cf", "Zl", "Zp", "Cs", "Co")), max_size=60)),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(messages, max_size=8), st.integers(1, 7000))
def test_any_message_sequence_round_trips_in_any_chunking(msgs: list[Message], chunk: int) -> None:
    stream = b"".join(encode(m) for m in msgs)
    receiver = FrameReceiver()
    events = []
    for i in range(0, len(stream), chunk):
        events.extend(receiver.feed(stream[i:i + chunk]))
    assert events == msgs


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=4000), st.integers(1, 600))
def test_fuzzed_bytes_raise_only_protocol_errors_and_stay_bounded(data: bytes, chunk: int) -> None:
    receiver = FrameReceiver()
    try:
        for i in range(0, len(data), chunk):
            receiver.feed(data[i:i + chunk])
    except ProtocolError:
        return
    assert receiver.buffered <= MAX_FRAME


@settings(max_examples=200, deadline=None)
@given(st.lists(messages, min_size=1, max_size=4), st.integers(0, 200), st.binary(min_size=1, max_size=8))
def test_corrupting_a_valid_stream_raises_only_protocol_errors(msgs: list[Message], pos: int,
                                                               junk: bytes) -> None:
    stream = bytearray(b"".join(encode(m) for m in msgs))
    pos %= len(stream)
    stream[pos:pos + len(junk)] = junk
    receiver = FrameReceiver()
    with contextlib.suppress(ProtocolError):
        receiver.feed(bytes(stream))
    assert receiver.buffered <= MAX_FRAME


# --- the session state machine ---------------------------------------------------------------------------------
GEO = Geometry(size=100_000, piece_size=16384)  # 7 pieces, the last 1696 bytes


def ready_pair() -> tuple[PeerSession, PeerSession]:
    client, server = PeerSession(Role.CLIENT), PeerSession(Role.SERVER, max_outstanding=4)
    hello = FrameReceiver().feed(client.start(Handshake(SHA, b"t"), GEO))
    server.receive(hello[0])
    answer = FrameReceiver().feed(server.accept(GEO, b"\xfe"))
    client.receive(answer[0])
    assert client.state is State.READY and server.state is State.READY
    return client, server


def test_server_wants_a_handshake_first() -> None:
    server = PeerSession(Role.SERVER)
    with pytest.raises(ProtocolError, match="HANDSHAKE first"):
        server.receive(Request(0, 0, 10))


def test_client_wants_a_bitfield_after_its_handshake() -> None:
    client = PeerSession(Role.CLIENT)
    client.start(Handshake(SHA, b"t"), GEO)
    with pytest.raises(ProtocolError):
        client.receive(Have(1))


def test_requests_outside_the_file_or_piece_are_refused() -> None:
    _client, server = ready_pair()
    with pytest.raises(ProtocolError, match="outside the file"):
        server.receive(Request(7, 0, 10))
    with pytest.raises(ProtocolError, match="outside piece"):
        server.receive(Request(6, 0, 1697))  # the last piece is shorter


def test_too_many_outstanding_requests_and_duplicates_are_refused() -> None:
    _client, server = ready_pair()
    for i in range(4):
        server.receive(Request(i, 0, 100))
    with pytest.raises(ProtocolError, match="too many"):
        server.receive(Request(5, 0, 100))
    _client, server = ready_pair()
    server.receive(Request(0, 0, 100))
    with pytest.raises(ProtocolError, match="twice"):
        server.receive(Request(0, 0, 100))


def test_unrequested_piece_is_refused_and_cancelled_piece_is_discarded() -> None:
    client, server = ready_pair()
    with pytest.raises(ProtocolError, match="unrequested"):
        client.receive(PieceReceived(0, 0, 100))
    client.request(0, 0, 100)
    server.receive(Request(0, 0, 100))
    assert client.cancel(0, 0, 100) is not None
    server.receive(Cancel(0, 0, 100))
    assert client.receive(PieceReceived(0, 0, 100)) is False  # raced with the cancel: accepted, discarded
    assert client.outstanding == 0
    assert not server.is_outstanding((0, 0, 100))


def test_server_cannot_answer_what_was_not_asked() -> None:
    _client, server = ready_pair()
    with pytest.raises(ProtocolError, match="not requested"):
        server.piece_header((0, 0, 10))


def test_bitfield_with_spare_bits_or_wrong_length_is_refused() -> None:
    client = PeerSession(Role.CLIENT)
    client.start(Handshake(SHA, b"t"), GEO)
    with pytest.raises(ProtocolError, match="past the last piece"):
        client.receive(Bitfield(b"\xff"))
    client = PeerSession(Role.CLIENT)
    client.start(Handshake(SHA, b"t"), GEO)
    with pytest.raises(ProtocolError, match="want 1"):
        client.receive(Bitfield(b"\xfe\x00"))


def test_a_goodbye_reason_reaches_the_user_without_its_escape_codes_and_invisible_characters() -> None:
    """A hostile peer's reason is shown in the node's terminal, log and show_downloads: an escape sequence would
    set the terminal's title or clipboard or draw a forged line; the words around them are kept."""
    hostile = "\x1b]0;PWNED\x07\x1b[2K\x1b[32m[C] g1 payroll.xlsx\x1b[0m \u202eexe.fdp \x08\x08 a\u2028b \x9b1m"
    (said,) = FrameReceiver().feed(encode(Goodbye(hostile)))
    assert isinstance(said, Goodbye)
    assert said.reason == ("\ufffd]0;PWNED\ufffd\ufffd[2K\ufffd[32m[C] g1 payroll.xlsx\ufffd[0m \ufffdexe.fdp "
                           "\ufffd\ufffd a\ufffdb \ufffd1m")
    assert printable("file no longer served") == "file no longer served"
    assert printable("ça ne marche pas: 無効") == "ça ne marche pas: 無効"  # words in any script stay
    assert printable("two\nlines\x1b", keep="\n") == "two\nlines\ufffd"


def test_nothing_is_accepted_after_goodbye() -> None:
    client, _server = ready_pair()
    client.receive(Goodbye("done"))
    with pytest.raises(ProtocolError, match="after GOODBYE"):
        client.receive(Have(1))


def test_roles_cannot_send_the_other_sides_messages() -> None:
    client, server = ready_pair()
    with pytest.raises(ProtocolError):
        client.have(1)
    with pytest.raises(ProtocolError):
        server.request(0, 0, 10)
    with pytest.raises(ProtocolError):
        server.receive(Piece(0, 0, b"x"))
