"""The SHA-256 chain behind piece hashes: its chaining values are SHA-256's own (checked against a plain Python
compression function written from FIPS 180-4), resuming from one gives hashlib's digest, and a piece checks alone
in any order while any change to it, or the wrong place, fails."""

from __future__ import annotations

import hashlib
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wire.pieces import PieceHasher, piece_hashes_of, piece_matches
from wire.sha256_chain import IV, Sha256Chain

_K = [
    0x428A2F98, 0x71374491, 0xB5C0FBCF, 0xE9B5DBA5, 0x3956C25B, 0x59F111F1, 0x923F82A4, 0xAB1C5ED5,
    0xD807AA98, 0x12835B01, 0x243185BE, 0x550C7DC3, 0x72BE5D74, 0x80DEB1FE, 0x9BDC06A7, 0xC19BF174,
    0xE49B69C1, 0xEFBE4786, 0x0FC19DC6, 0x240CA1CC, 0x2DE92C6F, 0x4A7484AA, 0x5CB0A9DC, 0x76F988DA,
    0x983E5152, 0xA831C66D, 0xB00327C8, 0xBF597FC7, 0xC6E00BF3, 0xD5A79147, 0x06CA6351, 0x14292967,
    0x27B70A85, 0x2E1B2138, 0x4D2C6DFC, 0x53380D13, 0x650A7354, 0x766A0ABB, 0x81C2C92E, 0x92722C85,
    0xA2BFE8A1, 0xA81A664B, 0xC24B8B70, 0xC76C51A3, 0xD192E819, 0xD6990624, 0xF40E3585, 0x106AA070,
    0x19A4C116, 0x1E376C08, 0x2748774C, 0x34B0BCB5, 0x391C0CB3, 0x4ED8AA4A, 0x5B9CCA4F, 0x682E6FF3,
    0x748F82EE, 0x78A5636F, 0x84C87814, 0x8CC70208, 0x90BEFFFA, 0xA4506CEB, 0xBEF9A3F7, 0xC67178F2,
]


def _rotr(x: int, n: int) -> int:
    return ((x >> n) | (x << (32 - n))) & 0xFFFFFFFF


def reference_state(data: bytes) -> bytes:
    """SHA-256's chaining value after ``data`` (a multiple of 64 bytes), by the standard's compression function."""
    assert len(data) % 64 == 0
    h = list(struct.unpack(">8I", IV))
    for at in range(0, len(data), 64):
        w = list(struct.unpack(">16I", data[at:at + 64]))
        for t in range(16, 64):
            s0 = _rotr(w[t - 15], 7) ^ _rotr(w[t - 15], 18) ^ (w[t - 15] >> 3)
            s1 = _rotr(w[t - 2], 17) ^ _rotr(w[t - 2], 19) ^ (w[t - 2] >> 10)
            w.append((w[t - 16] + s0 + w[t - 7] + s1) & 0xFFFFFFFF)
        a, b, c, d, e, f, g, hh = h
        for t in range(64):
            t1 = (hh + (_rotr(e, 6) ^ _rotr(e, 11) ^ _rotr(e, 25)) + ((e & f) ^ (~e & g)) + _K[t] + w[t]) & 0xFFFFFFFF
            t2 = ((_rotr(a, 2) ^ _rotr(a, 13) ^ _rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c))) & 0xFFFFFFFF
            a, b, c, d, e, f, g, hh = (t1 + t2) & 0xFFFFFFFF, a, b, c, (d + t1) & 0xFFFFFFFF, e, f, g
        h = [(x + y) & 0xFFFFFFFF for x, y in zip(h, [a, b, c, d, e, f, g, hh], strict=True)]
    return struct.pack(">8I", *h)


def test_the_reference_compression_is_sha256() -> None:
    # The reference itself, checked where hashlib can check it: the padded one-block message "abc".
    padded = b"abc" + b"\x80" + bytes(52) + (24).to_bytes(8, "big")
    assert reference_state(padded) == hashlib.sha256(b"abc").digest()


@settings(max_examples=40, deadline=None)
@given(st.binary(max_size=64 * 6).map(lambda b: b[:len(b) - len(b) % 64]), st.binary(max_size=200))
def test_chaining_values_are_sha256_s_and_resuming_gives_hashlib_s_digest(head: bytes, tail: bytes) -> None:
    chain = Sha256Chain()
    chain.update(bytearray(head))  # writable memory: hashed in place
    assert chain.state() == reference_state(head)
    resumed = Sha256Chain(chain.state(), len(head))
    resumed.update(tail)  # bytes: read-only memory
    chain.update(memoryview(tail))
    assert resumed.digest() == chain.digest() == hashlib.sha256(head + tail).digest()
    assert chain.digest() == chain.digest()  # digest leaves the chain as it was


def test_no_chaining_value_inside_a_block_and_no_resuming_there() -> None:
    chain = Sha256Chain()
    chain.update(b"x" * 65)
    with pytest.raises(ValueError, match="multiple of 64"):
        chain.state()
    with pytest.raises(ValueError):
        Sha256Chain(IV, 100)
    with pytest.raises(ValueError):
        Sha256Chain(b"short", 0)


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 6 * 1024 + 5), st.sampled_from([64, 1024, 4096]), st.data())
def test_every_piece_checks_alone_and_a_changed_or_misplaced_one_fails(size: int, piece: int,
                                                                       draw: st.DataObject) -> None:
    data = hashlib.shake_256(size.to_bytes(4, "big")).digest(size)  # no two pieces alike: a repeated one would pass
    sha, hashes = piece_hashes_of(data, piece)
    assert sha == hashlib.sha256(data).hexdigest()
    assert len(hashes) == -(-size // piece) and (not hashes or hashes[-1] == bytes.fromhex(sha))
    for i in range(len(hashes)):
        assert piece_matches(hashes, piece, i, memoryview(bytearray(data[i * piece:(i + 1) * piece])))
    if not hashes:
        return
    i = draw.draw(st.integers(0, len(hashes) - 1))
    body = bytearray(data[i * piece:(i + 1) * piece])
    at = draw.draw(st.integers(0, len(body) - 1))
    body[at] ^= 1 << draw.draw(st.integers(0, 7))
    assert not piece_matches(hashes, piece, i, body)
    if len(hashes) > 1:  # a good piece offered at another index
        j = (i + 1) % len(hashes)
        assert not piece_matches(hashes, piece, j, data[i * piece:(i + 1) * piece])
    assert not piece_matches(hashes, piece, len(hashes), b"")  # no such piece
    assert not piece_matches(hashes, piece, -1, b"")


def test_a_short_piece_that_is_not_the_last_fails() -> None:
    data = bytes(range(256)) * 40
    _, hashes = piece_hashes_of(data, 4096)
    assert not piece_matches(hashes, 4096, 0, data[:4032])  # a block-aligned prefix of piece 0 is not piece 0


def test_a_hasher_refuses_more_or_fewer_bytes_than_the_size() -> None:
    hasher = PieceHasher(100, 64)
    hasher.update(b"x" * 60)
    with pytest.raises(ValueError, match="fed 60"):
        hasher.finish()
    with pytest.raises(ValueError, match="fed 101"):
        hasher.update(b"x" * 41)
    with pytest.raises(ValueError, match="multiple of 64"):
        PieceHasher(1000, 100)
