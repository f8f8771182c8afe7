"""Opening a peer connection (TLS, then one HELLO each way) and switching to sealed records: in memory, then
against the real client transport."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from pathlib import Path

import pytest

from peer_node.swarm import secure_channel
from peer_node.swarm.secure_channel import SecureOpening
from peer_node.swarm.tls import NodeIdentity, client_context, load_or_create_identity
from tests.swarm.test_client_channel import Collector
from wire.bulk_records import Aead, RecordStream, Sealer, make_hello
from wire.peer_protocol import ProtocolError


@pytest.fixture
def identity(tmp_path: Path) -> NodeIdentity:
    return load_or_create_identity(tmp_path / "seeder")


def open_both(identity: NodeIdentity, client_first: bytes = b"") -> tuple[SecureOpening, SecureOpening]:
    """Run both ends' openings against each other in memory; ``client_first`` is sealed by the client the moment
    its opening is done and travels with its last TLS bytes, as a real client's HANDSHAKE may."""
    client = SecureOpening(client_context(), server_side=False)
    server = SecureOpening(identity.server_context(), server_side=True)
    to_server = client.start()
    for _ in range(5):
        to_client = server.feed(to_server) if not server.done else b""
        to_server = client.feed(to_client) if not client.done else b""
        if client.done and client_first:
            assert client.sealer is not None
            to_server += bytes(client.sealer.seal(client_first))
            client_first = b""
        if client.done and server.done:
            break
    return client, server


def test_both_ends_open_with_matching_keys_and_the_seeders_certificate(identity: NodeIdentity) -> None:
    client, server = open_both(identity)
    assert client.done and server.done
    assert client.sealer is not None and server.opener is not None and server.sealer and client.opener
    assert RecordStream(server.opener).feed(client.sealer.seal(b"request")) == [b"request"]
    assert RecordStream(client.opener).feed(server.sealer.seal(b"piece")) == [b"piece"]
    der = client.ssl_object.getpeercert(binary_form=True)
    assert der == identity.cert_der
    assert client.ssl_object.get_channel_binding("tls-unique") == server.ssl_object.get_channel_binding("tls-unique")


@pytest.mark.parametrize(("client_prefers", "server_prefers", "chosen"), [
    (Aead.GCM, Aead.GCM, Aead.GCM), (Aead.GCM, Aead.OCB3, Aead.OCB3), (Aead.OCB3, Aead.GCM, Aead.OCB3),
    (Aead.OCB3, Aead.OCB3, Aead.OCB3)])
def test_both_ends_seal_with_the_aead_their_hellos_choose(identity: NodeIdentity, monkeypatch: pytest.MonkeyPatch,
                                                         client_prefers: Aead, server_prefers: Aead,
                                                         chosen: Aead) -> None:
    client = SecureOpening(client_context(), server_side=False)
    monkeypatch.setattr(client, "_prefers", client_prefers)  # what this machine's speeds would have said
    server = SecureOpening(identity.server_context(), server_side=True)
    monkeypatch.setattr(server, "_prefers", server_prefers)
    to_server = client.start()
    while not (client.done and server.done):
        to_client = server.feed(to_server) if not server.done else b""
        to_server = client.feed(to_client) if not client.done else b""
    assert client.aead is server.aead is chosen
    assert client.sealer is not None and server.opener is not None
    assert RecordStream(server.opener).feed(client.sealer.seal(b"request")) == [b"request"]


def test_sealed_bytes_that_arrive_with_the_hello_are_kept_for_the_record_layer(identity: NodeIdentity) -> None:
    _, server = open_both(identity, client_first=b"HANDSHAKE frame")
    assert server.done and server.leftover  # the sealed bytes stayed in the BIO, behind the HELLO record
    assert server.opener is not None
    assert RecordStream(server.opener).feed(server.leftover) == [b"HANDSHAKE frame"]


def test_more_than_a_hello_inside_tls_is_refused(identity: NodeIdentity, monkeypatch: pytest.MonkeyPatch) -> None:
    # Plaintext after the HELLO in the same TLS record would be read as neither: the opening refuses it.
    monkeypatch.setattr(secure_channel, "make_hello",
                        lambda secret, prefers: make_hello(secret, prefers) + b"and more")
    with pytest.raises(ProtocolError, match="more than its HELLO"):
        open_both(identity)


async def receive_from_seeder(identity: NodeIdentity, send: Callable[[Sealer], bytes]) -> Collector:
    """Connect the real client to a seeder that opens the connection, sends ``send(its sealer)`` and hangs up;
    the client's protocol once the connection is gone."""
    async def seeder(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        opening = SecureOpening(identity.server_context(), server_side=True)
        while not opening.done:
            writer.write(opening.feed(await reader.read(65536)))
        assert opening.sealer is not None
        writer.write(send(opening.sealer))
        with contextlib.suppress(ConnectionError):
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(seeder, "127.0.0.1", 0)
    try:
        proto = Collector()
        await secure_channel.connect("127.0.0.1", server.sockets[0].getsockname()[1], client_context(), proto)
        await asyncio.wait_for(proto.gone, 10)
        return proto
    finally:
        server.close()
        await server.wait_closed()


async def test_a_tampered_record_from_the_seeder_ends_the_clients_connection(identity: NodeIdentity) -> None:
    def good_then_tampered(sealer: Sealer) -> bytes:
        good, bad = bytes(sealer.seal(b"good")), bytearray(sealer.seal(b"evil"))
        bad[-1] ^= 1
        return good + bytes(bad)

    proto = await receive_from_seeder(identity, good_then_tampered)
    assert bytes(proto.data) == b"good"
    assert len(proto.lost) == 1 and isinstance(proto.lost[0], ProtocolError)


async def test_a_stream_cut_inside_a_record_is_an_error_not_an_end(identity: NodeIdentity) -> None:
    proto = await receive_from_seeder(
        identity, lambda sealer: bytes(sealer.seal(b"whole")) + bytes(sealer.seal(b"cut short"))[:-3])
    assert bytes(proto.data) == b"whole" and proto.eof == 0
    assert isinstance(proto.lost[0], ConnectionResetError)
