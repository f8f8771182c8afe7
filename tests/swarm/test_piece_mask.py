"""Pieces as int masks: the wire bitfield (MSB first) converted once, and a link's mask kept by HAVE and REJECT."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from peer_node.swarm.peer_link import PeerLink, PieceJob
from peer_node.swarm.piece_mask import bitfield_mask, full_mask, lowest_bit, mask_bitfield, set_bits
from tests.swarm.helpers import feed_link
from wire.peer_protocol import Bitfield, Handshake, Have, encode
from wire.peer_session import Geometry
from wire.records import SeederInfo

PIECE = 16 * 1024


def test_piece_zero_is_the_high_bit_of_the_first_byte() -> None:
    assert bitfield_mask(bytes([0x80])) == 1
    assert bitfield_mask(bytes([0x01])) == 1 << 7
    assert bitfield_mask(bytes([0x00, 0x80])) == 1 << 8
    assert bitfield_mask(bytearray([0x40, 0x02])) == 1 << 1 | 1 << 14  # the store keeps a bytearray


def test_the_last_partial_byte_holds_the_last_pieces() -> None:
    # 10 pieces: the second byte carries pieces 8 and 9 in its two high bits, the spare bits stay clear.
    assert bitfield_mask(bytes([0xFF, 0xC0])) == full_mask(10)
    assert bitfield_mask(bytes([0x00, 0x40])) == 1 << 9
    assert mask_bitfield(1 | 1 << 9, 10) == bytes([0x80, 0x40])


@given(st.binary(max_size=300))
def test_every_bit_lands_where_the_wire_puts_it(bits: bytes) -> None:
    on_the_wire = [i for i in range(len(bits) * 8) if bits[i >> 3] & (0x80 >> (i & 7))]
    assert list(set_bits(bitfield_mask(bits))) == on_the_wire


@given(st.integers(min_value=0, max_value=2000).flatmap(
    lambda count: st.tuples(st.just(count), st.integers(min_value=0, max_value=(1 << count + 9) - 1))))
def test_a_mask_goes_back_to_the_wire_bitfield_it_came_from(case: tuple[int, int]) -> None:
    count, mask = case  # the mask may carry bits past the last piece: they never reach the wire
    bits = mask_bitfield(mask, count)
    assert len(bits) == (count + 7) // 8
    assert bitfield_mask(bits) == mask & full_mask(count)
    assert mask_bitfield(bitfield_mask(bits), count) == bits


@given(st.integers(min_value=1, max_value=1 << 5000))
def test_lowest_bit_is_the_first_piece_listed(mask: int) -> None:
    assert lowest_bit(mask) == next(set_bits(mask))
    assert mask >> lowest_bit(mask) & 1 and not mask & ((1 << lowest_bit(mask)) - 1)


class _Handler:
    def __init__(self) -> None:
        self.haves: list[int] = []

    def on_link_piece(self, link: PeerLink, job: PieceJob) -> None:
        raise AssertionError("no piece was requested")

    def on_link_reject(self, link: PeerLink, job: PieceJob) -> None:
        raise AssertionError("no piece was requested")

    def on_link_have(self, link: PeerLink, index: int) -> None:
        self.haves.append(index)

    def on_link_lost(self, link: PeerLink, reason: str) -> None:
        raise AssertionError(f"link lost: {reason}")


async def test_a_link_keeps_the_peers_pieces_as_a_mask() -> None:
    geometry = Geometry(9 * PIECE + 1, PIECE)  # 10 pieces: the bitfield's second byte is partial
    handler = _Handler()
    link = PeerLink(SeederInfo("bob", "127.0.0.1", 9, "", None), geometry, handler, block_size=PIECE)
    link.session.start(Handshake(bytes(32), b"token"), geometry)  # what open() writes first
    feed_link(link, encode(Bitfield(bytes([0x81, 0x40]))))  # pieces 0, 7 and 9
    assert link.ready.done() and not link.closed
    assert link.mask == 1 << 0 | 1 << 7 | 1 << 9
    assert [i for i in range(10) if link.has(i)] == [0, 7, 9]
    feed_link(link, encode(Have(3)) + encode(Have(3)))  # a repeated HAVE is no news
    assert link.mask == 1 << 0 | 1 << 3 | 1 << 7 | 1 << 9 and handler.haves == [3]
    seed = [link.is_seed]
    feed_link(link, b"".join(encode(Have(i)) for i in (1, 2, 4, 5, 6, 8)))
    assert link.mask == full_mask(10)
    seed.append(link.is_seed)
    assert link.forget(9) and not link.has(9) and not link.forget(9)  # it rejected piece 9: not held after all
    seed.append(link.is_seed)
    assert seed == [False, True, False]
