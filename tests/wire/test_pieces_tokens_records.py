"""Piece geometry, signed access tokens and the API records."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wire.errors import BadInput
from wire.pieces import MAX_PIECE_SIZE, MIN_PIECE_SIZE, piece_count, piece_hashes_of, piece_length, piece_size_for
from wire.records import FileMeta, SeederInfo, decode_bitfield, encode_bitfield
from wire.tokens import AccessGrant, InvalidToken, TokenVerifier, mint_token, public_key_hex, signing_key_from_secret

FILE = "ab" * 32


@given(st.integers(min_value=0, max_value=1 << 40))
def test_piece_size_is_a_power_of_two_keeping_about_2000_pieces(size: int) -> None:
    ps = piece_size_for(size)
    assert ps >= MIN_PIECE_SIZE and ps & (ps - 1) == 0
    assert piece_count(size, ps) <= 2000 or ps == MAX_PIECE_SIZE
    assert ps == MIN_PIECE_SIZE or piece_count(size, ps // 2) > 2000
    assert sum(piece_length(i, size, ps) for i in range(piece_count(size, ps))) == size


def test_last_piece_holds_the_remainder() -> None:
    assert piece_length(2, 2 * 1024 + 5, 1024) == 5
    with pytest.raises(IndexError):
        piece_length(3, 2 * 1024 + 5, 1024)


def grant(**kw: object) -> AccessGrant:
    base: dict[str, object] = dict(user_id="alice", group_id="g1", file_sha256=FILE, fingerprint="", epoch=1,
                                   expires_at=1000.0)
    base.update(kw)
    return AccessGrant(**base)  # type: ignore[arg-type]


def test_a_token_from_the_cluster_key_verifies_on_any_node() -> None:
    key_a = signing_key_from_secret(b"s" * 32)
    key_b = signing_key_from_secret(b"s" * 32)  # another tracker, same secret
    token = mint_token(key_a, grant())
    assert TokenVerifier([public_key_hex(key_b)]).verify(token, now=10, file_sha256=FILE) == grant()


@pytest.mark.parametrize(
    ("token_grant", "now", "file", "fingerprint", "reason"),
    [
        (grant(), 1000.0, FILE, "", "expired"),
        (grant(), 10.0, "cd" * 32, "", "another file"),
        (grant(fingerprint="11" * 32), 10.0, FILE, "22" * 32, "another node"),
    ],
)
def test_tokens_are_refused_when_expired_or_for_something_else(
    token_grant: AccessGrant, now: float, file: str, fingerprint: str, reason: str
) -> None:
    key = signing_key_from_secret(b"s" * 32)
    with pytest.raises(InvalidToken, match=reason):
        TokenVerifier([public_key_hex(key)]).verify(mint_token(key, token_grant), now=now, file_sha256=file,
                                                    fingerprint=fingerprint)


def test_a_token_from_a_foreign_key_is_refused() -> None:
    ours, theirs = signing_key_from_secret(b"a" * 32), signing_key_from_secret(b"b" * 32)
    with pytest.raises(InvalidToken, match="not signed"):
        TokenVerifier([public_key_hex(ours)]).verify(mint_token(theirs, grant()), now=10, file_sha256=FILE)


@given(st.binary(max_size=3000))
def test_garbage_tokens_raise_only_invalid_token(data: bytes) -> None:
    verifier = TokenVerifier([public_key_hex(signing_key_from_secret(b"k" * 32))])
    with pytest.raises(InvalidToken):
        verifier.verify(data, now=0, file_sha256=FILE)


def test_file_meta_round_trips_and_checks_the_piece_list() -> None:
    data = b"x" * 40_000
    sha, hashes = piece_hashes_of(data, 16384)
    meta = FileMeta("f.bin", len(data), 16384, sha, hashes)
    assert FileMeta.from_json(meta.to_json()) == meta
    broken = meta.to_json() | {"piece_hashes": meta.to_json()["piece_hashes"][:-1]}
    with pytest.raises(BadInput, match="3 piece digests"):
        FileMeta.from_json(broken)
    with pytest.raises(BadInput, match="piece_size"):
        FileMeta.from_json(meta.to_json() | {"piece_size": 1000})
    other = hashlib.sha256(b"other").hexdigest()  # a listing whose chain does not end at its own digest
    with pytest.raises(BadInput, match="last piece hash"):
        FileMeta.from_json(meta.to_json() | {"sha256": other})
    empty = {"file_name": "e", "size": 0, "piece_size": 16384, "piece_hashes": []}
    assert FileMeta.from_json(empty | {"sha256": hashlib.sha256(b"").hexdigest()}).piece_count == 0
    with pytest.raises(BadInput, match="empty file"):
        FileMeta.from_json(empty | {"sha256": other})


def test_seeder_bitfields_address_pieces_most_significant_bit_first() -> None:
    bits = bytes([0b10100000])
    seeder = SeederInfo.from_json({"user_id": "bob", "addr": "127.0.0.1:9", "pieces": encode_bitfield(bits)}, 3)
    assert [seeder.has(i) for i in range(3)] == [True, False, True]
    assert SeederInfo.from_json({"user_id": "bob", "addr": "127.0.0.1:9", "pieces": "all"}, 3).has(2)
    with pytest.raises(BadInput):
        decode_bitfield(encode_bitfield(b"\x00\x00"), 3)
