"""A link's receive path: where a PIECE body lands when its request is withdrawn half-way through it."""

from __future__ import annotations

from peer_node.swarm.buffers import new_buffer
from peer_node.swarm.peer_link import PeerLink, PieceJob
from tests.swarm.helpers import feed_link
from wire.peer_protocol import HEADER_SIZE, PIECE_PREFIX_SIZE, Bitfield, Handshake, encode, encode_piece_header
from wire.peer_session import Geometry
from wire.records import SeederInfo

PIECE = 64 * 1024


class _Handler:
    def __init__(self) -> None:
        self.pieces: list[int] = []

    def on_link_piece(self, link: PeerLink, job: PieceJob) -> None:
        self.pieces.append(job.index)

    def on_link_reject(self, link: PeerLink, job: PieceJob) -> None:
        raise AssertionError("nothing was rejected")

    def on_link_have(self, link: PeerLink, index: int) -> None:
        pass

    def on_link_lost(self, link: PeerLink, reason: str) -> None:
        raise AssertionError(f"link lost: {reason}")


class _Transport:
    def write(self, data: bytes) -> None:
        pass

    def is_closing(self) -> bool:
        return False

    def abort(self) -> None:
        pass


def _open_link(handler: _Handler) -> PeerLink:
    geometry = Geometry(2 * PIECE, PIECE)
    link = PeerLink(SeederInfo("bob", "127.0.0.1", 9, "", None), geometry, handler, block_size=PIECE)
    link.transport = _Transport()  # type: ignore[assignment]
    link.session.start(Handshake(bytes(32), b"token"), geometry)
    feed_link(link, encode(Bitfield(bytes([0xC0]))))
    return link


async def test_the_rest_of_a_block_withdrawn_half_way_does_not_land_in_the_buffer_it_gave_back() -> None:
    link = _open_link(_Handler())
    buffer = new_buffer(PIECE)
    job = PieceJob(0, PIECE, buffer, link, 0.0)
    link.request(job)
    link.flush()
    frame = encode_piece_header(0, 0, PIECE) + b"A" * PIECE
    half = HEADER_SIZE + PIECE_PREFIX_SIZE - 1 + PIECE // 2
    feed_link(link, frame[:half])  # half the body is in, straight into the job's buffer
    link.cancel(job)  # a duplicate from another peer won: the buffer goes back to the pool...
    buffer[:] = b"N" * PIECE  # ...and another piece fills it
    feed_link(link, frame[half:])
    assert bytes(buffer) == b"N" * PIECE
    assert not link.closed and link.jobs == {}


async def test_a_block_withdrawn_half_way_leaves_the_next_block_where_it_belongs() -> None:
    handler = _Handler()
    link = _open_link(handler)
    first, second = PieceJob(0, PIECE, new_buffer(PIECE), link, 0.0), PieceJob(1, PIECE, new_buffer(PIECE), link, 0.0)
    link.request(first)
    link.request(second)
    frame0 = encode_piece_header(0, 0, PIECE) + b"A" * PIECE
    feed_link(link, frame0[:100])
    link.cancel(first)
    feed_link(link, frame0[100:] + encode_piece_header(1, 0, PIECE) + b"B" * PIECE)
    assert bytes(second.buffer) == b"B" * PIECE and handler.pieces == [1]
