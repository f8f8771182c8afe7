"""The sealed record layer: what one end seals the other opens, byte for byte, however the stream is cut up;
anything tampered with, replayed, reordered, oversized or keyed for another connection is refused."""

from __future__ import annotations

import os

import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, AESOCB3
from hypothesis import given, settings
from hypothesis import strategies as st

from wire.aead_speed import best_time, prefer, preferred_aead
from wire.bulk_records import (
    HEADER_SIZE,
    HELLO_MAGIC,
    HELLO_SIZE,
    MAX_CIPHERTEXT,
    MAX_PLAINTEXT,
    RECORD_HEADER,
    TAG_SIZE,
    Aead,
    Hello,
    Opener,
    RecordStream,
    Sealer,
    check_length,
    choose,
    derive_keys,
    make_hello,
    parse_hello,
)
from wire.peer_protocol import ProtocolError

CLIENT, SERVER, BINDING = os.urandom(32), os.urandom(32), os.urandom(12)


def pair(aead: Aead = Aead.OCB3) -> tuple[Sealer, RecordStream]:
    """The client's sealer and the server's reader of what it sends."""
    send, _ = derive_keys(CLIENT, SERVER, BINDING, aead, client=True)
    _, receive = derive_keys(CLIENT, SERVER, BINDING, aead, client=False)
    return Sealer(send, aead), RecordStream(Opener(receive, aead))


@pytest.mark.parametrize("aead", list(Aead))
def test_each_end_sends_with_the_key_the_other_receives_with_and_the_two_directions_differ(aead: Aead) -> None:
    c_send, c_receive = derive_keys(CLIENT, SERVER, BINDING, aead, client=True)
    s_send, s_receive = derive_keys(CLIENT, SERVER, BINDING, aead, client=False)
    assert (c_send, c_receive) == (s_receive, s_send)
    assert c_send != c_receive
    assert derive_keys(CLIENT, SERVER, os.urandom(12), aead, client=True) != (c_send, c_receive)  # another connection
    other = next(a for a in Aead if a is not aead)
    assert set(derive_keys(CLIENT, SERVER, BINDING, other, client=True)).isdisjoint({c_send, c_receive})


def test_gcm_is_chosen_only_when_both_ends_prefer_it() -> None:
    assert choose(Aead.GCM, Aead.GCM) is Aead.GCM
    assert choose(Aead.GCM, Aead.OCB3) is choose(Aead.OCB3, Aead.GCM) is choose(Aead.OCB3, Aead.OCB3) is Aead.OCB3


@settings(max_examples=60, deadline=None)
@given(writes=st.lists(st.binary(min_size=1, max_size=3000), min_size=1, max_size=8),
       cut=st.integers(min_value=1, max_value=5000), aead=st.sampled_from(list(Aead)))
def test_what_is_sealed_is_opened_exactly_however_the_bytes_arrive(writes: list[bytes], cut: int, aead: Aead) -> None:
    sealer, stream = pair(aead)
    wire = b"".join(bytes(sealer.seal(w)) for w in writes)
    opened = b"".join(b"".join(stream.feed(wire[i:i + cut])) for i in range(0, len(wire), cut))
    assert opened == b"".join(writes)


def test_a_write_larger_than_a_record_is_split_and_a_whole_piece_frame_is_one_record() -> None:
    sealer, stream = pair()
    big = os.urandom(2 * MAX_PLAINTEXT + 7)
    sealed = sealer.seal(big)
    assert len(sealed) == len(big) + 3 * (HEADER_SIZE + TAG_SIZE)
    assert b"".join(stream.feed(sealed)) == big
    assert len(sealer.seal(bytes(13 + (1 << 20)))) == 13 + (1 << 20) + HEADER_SIZE + TAG_SIZE


@pytest.mark.parametrize("where", [0, HEADER_SIZE, HEADER_SIZE + 5, -1])
def test_a_flipped_bit_anywhere_fails_authentication(where: int) -> None:
    sealer, stream = pair()
    sealed = bytearray(sealer.seal(b"piece bytes" * 100))
    sealed[where] ^= 0x01
    with pytest.raises(ProtocolError):
        stream.feed(sealed)


def test_a_replayed_or_reordered_record_is_refused() -> None:
    sealer, stream = pair()
    first, second = bytes(sealer.seal(b"one")), bytes(sealer.seal(b"two"))
    assert stream.feed(first) == [b"one"]
    with pytest.raises(ProtocolError):
        stream.feed(first)  # the same record again: the counter moved on
    _, fresh = pair()
    with pytest.raises(ProtocolError):
        fresh.feed(second)  # the second record first


def test_records_for_the_other_direction_or_another_connection_are_refused() -> None:
    sealer, _ = pair()
    _, own_receive = derive_keys(CLIENT, SERVER, BINDING, Aead.OCB3, client=True)  # what the client receives with
    with pytest.raises(ProtocolError):
        RecordStream(Opener(own_receive, Aead.OCB3)).feed(sealer.seal(b"echo"))
    _, other = derive_keys(CLIENT, SERVER, os.urandom(12), Aead.OCB3, client=False)
    with pytest.raises(ProtocolError):
        RecordStream(Opener(other, Aead.OCB3)).feed(sealer.seal(b"moved"))
    _, gcm_receive = derive_keys(CLIENT, SERVER, BINDING, Aead.GCM, client=False)  # the server on the other AEAD
    with pytest.raises(ProtocolError):
        RecordStream(Opener(gcm_receive, Aead.GCM)).feed(sealer.seal(b"mixed"))


@pytest.mark.parametrize("length", [0, TAG_SIZE, MAX_CIPHERTEXT + 1, 0xFFFFFFFF])
def test_an_impossible_length_is_refused_from_the_header_alone(length: int) -> None:
    _, stream = pair()
    with pytest.raises(ProtocolError):
        stream.feed(RECORD_HEADER.pack(length))  # nothing else sent: nothing is waited for or buffered
    with pytest.raises(ProtocolError):
        check_length(length)


def test_hellos_round_trip_and_anything_else_is_refused() -> None:
    secret = os.urandom(32)
    for aead in Aead:
        assert parse_hello(make_hello(secret, aead)) == Hello(secret, aead)
        assert len(make_hello(secret, aead)) == HELLO_SIZE
    hello = make_hello(secret, Aead.GCM)
    for bad in (b"", hello[:-1], b"X" + hello[1:], hello + b"!"):
        with pytest.raises(ProtocolError):
            parse_hello(bad)
    with pytest.raises(ProtocolError, match="unknown AEAD"):
        parse_hello(hello[:-1] + b"\x07")
    with pytest.raises(ValueError):
        make_hello(b"short", Aead.OCB3)


@pytest.mark.parametrize(("old", "version"), [(b"GSBULK1\0" + bytes(33), 1), (b"GSBULK2\0" + bytes(33), 2)])
def test_a_peer_on_an_older_record_layer_is_told_apart_by_its_hello(old: bytes, version: int) -> None:
    assert old[:8] != HELLO_MAGIC
    with pytest.raises(ProtocolError, match=f"version {version} of the record layer, this node with version 3"):
        parse_hello(old)


@pytest.mark.parametrize(("aead", "cipher", "not_cipher"), [(Aead.OCB3, AESOCB3, AESGCM), (Aead.GCM, AESGCM, AESOCB3)])
def test_records_are_the_chosen_aead_under_the_derived_key_with_the_counter_as_nonce(
        aead: Aead, cipher: type[AESOCB3] | type[AESGCM], not_cipher: type[AESOCB3] | type[AESGCM]) -> None:
    """Pinned against the library directly: a record is exactly RFC 7253 OCB3 or GCM with the direction's 32-byte
    key, nonce = 4 zero bytes + 64-bit counter, and the header as associated data (the other AEAD cannot open it)."""
    send, _ = derive_keys(CLIENT, SERVER, BINDING, aead, client=True)
    sealer = Sealer(send, aead)
    wire = bytes(sealer.seal(b"first")) + bytes(sealer.seal(b"second"))
    at = 0
    for counter, plain in enumerate((b"first", b"second")):
        (length,) = RECORD_HEADER.unpack_from(wire, at)
        header, body = wire[at:at + HEADER_SIZE], wire[at + HEADER_SIZE:at + HEADER_SIZE + length]
        nonce = bytes(4) + counter.to_bytes(8, "big")
        assert len(send) == 32
        assert cipher(send).decrypt(nonce, body, header) == plain
        with pytest.raises(InvalidTag):
            not_cipher(send).decrypt(nonce, body, header)
        at += HEADER_SIZE + length


def test_this_machine_prefers_gcm_only_when_it_seals_clearly_faster() -> None:
    assert prefer(0.5, 1.0) is Aead.GCM
    assert prefer(0.9, 1.0) is Aead.GCM
    assert prefer(0.95, 1.0) is Aead.OCB3  # near-equal speeds keep OCB3 rather than flip between runs
    assert prefer(2.0, 1.0) is Aead.OCB3
    assert preferred_aead() in Aead and preferred_aead() is preferred_aead()  # measured once per process


def test_the_timing_keeps_the_best_round() -> None:
    calls: list[int] = []
    assert best_time(lambda: calls.append(1), rounds=4) >= 0
    assert len(calls) == 5  # one untimed call first
