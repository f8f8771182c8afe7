"""Which listed holders the engine connects to first: how many pieces we lack each one holds (masks)."""

from __future__ import annotations

from peer_node.swarm.piece_mask import pieces_we_lack

COUNT = 10  # pieces: a bitfield of 2 bytes
HAVE = 1 << 0 | 1 << 1 | 1 << 8  # we hold pieces 0, 1 and 8


def test_a_whole_file_seeder_holds_every_piece() -> None:
    assert pieces_we_lack(None, HAVE, COUNT) == COUNT


def test_usefulness_counts_the_pieces_a_holder_has_that_we_lack() -> None:
    assert pieces_we_lack(bytes([0b11000000, 0b10000000]), HAVE, COUNT) == 0  # 0, 1, 8: all ours already
    assert pieces_we_lack(bytes([0b11110000, 0b11000000]), HAVE, COUNT) == 3  # 2, 3 and 9 are new to us
    assert pieces_we_lack(bytes([0xFF, 0xFF]), HAVE, COUNT) == 7  # bits past piece 9 are not pieces
    assert pieces_we_lack(bytes([0b00100000]), HAVE, COUNT) == 1  # a short bitfield: what it says
    assert pieces_we_lack(bytes([0b00100000]), 0, COUNT) == 1
