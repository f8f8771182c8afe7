"""The real node's peer transport: TLS with pinned per-node certificates by default, plain TCP under --no-tls.

Real ./tracker and ./client processes. A download between two nodes is checked end to end (SHA-256), then the
seeder's piece port is probed from the test as the nodes themselves would talk to it: the tracker lists the
seeder's certificate fingerprint, a plaintext connection gets no piece byte, a token minted for one node gets
the piece over TLS on that node's identity and nothing when another node (another key) replays it.
"""

from __future__ import annotations

import contextlib
import json
import shlex
import socket
import stat
from pathlib import Path
from typing import Any

from peer_node.swarm.tls import NodeIdentity, load_or_create_identity
from tests.support.cluster import (
    FAST_NODE_ARGS,
    Cluster,
    Node,
    group_with_members,
    http_request,
    make_file,
    sha256_file,
)
from tests.support.secure_client import SecureSocket
from wire.frame_receiver import FrameReceiver
from wire.peer_protocol import Bitfield, Goodbye, Handshake, Piece, ProtocolError, Request, encode

PIECE = 64 * 1024  # FAST_NODE_ARGS' --piece-size
SIZE = 5 * PIECE + 123


def tracker_view_as(cluster: Cluster, node: Node, file_name: str, fingerprint: str) -> dict[str, Any]:
    """Log in over the tracker's HTTP API as ``node``'s user, from its address with ``fingerprint`` (what the
    node itself sends), and return the tracker's answer for ``file_name`` in g1: seeders and an access token."""
    port = cluster.tracker_ports[0]
    body = {"user_id": node.name, "password": node.password, "peer_addr": f"127.0.0.1:{node.piece_port}",
            "fingerprint": fingerprint, "op_id": f"tls-test-login-{node.name}"}
    st, raw = http_request(port, "POST", "/api/v1/sessions", json.dumps(body).encode(),
                           {"Content-Type": "application/json"})
    assert st == 200, raw[:300]
    session = json.loads(raw)["session"]
    st, raw = http_request(port, "GET", f"/api/v1/groups/g1/files/{file_name}",
                           headers={"Authorization": f"Bearer {session}"})
    assert st == 200, raw[:300]
    doc: dict[str, Any] = json.loads(raw)
    return doc


def talk(port: int, sha256: str, token: str, identity: NodeIdentity | None) -> tuple[bytes, str]:
    """One connection to a piece port: the node's TLS opening proving ``identity`` (None: plaintext, no
    certificate), a HANDSHAKE with ``token`` and a REQUEST for piece 0. Returns everything the server sent until
    it hung up (or went quiet) and, under TLS, the fingerprint of the certificate the server showed."""
    if identity is not None:
        conn = SecureSocket(port)
        try:
            conn.send(encode(Handshake(bytes.fromhex(sha256), token.encode(), cert=identity.cert_der,
                                       proof=identity.prove(conn.binding))) + encode(Request(0, 0, PIECE)))
            return conn.read_all(5), conn.server_fingerprint
        finally:
            conn.close()
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(encode(Handshake(bytes.fromhex(sha256), token.encode())) + encode(Request(0, 0, PIECE)))
        got = b""
        with contextlib.suppress(OSError):  # TimeoutError and resets included: the answer is `got`
            while chunk := sock.recv(1 << 16):
                got += chunk
        return got, ""


def frames(data: bytes) -> list[object]:
    try:
        return list(FrameReceiver().feed(data))
    except ProtocolError:
        return []  # not our protocol at all (a TLS alert, say)


def got_piece(data: bytes) -> bool:
    return any(isinstance(e, Piece | Bitfield) for e in frames(data))


def share_and_download(cluster: Cluster, names: tuple[str, str, str]) -> tuple[Node, Node, Node, Path, str]:
    seeder, downloader, third = (cluster.start_node(n) for n in names)
    for n in (seeder, downloader, third):
        n.login()
    group_with_members(seeder, [downloader, third], "g1")
    src = make_file(cluster.tmp / "share" / "pic.bin", SIZE, seed=61)
    seeder.ok(f"upload_file {shlex.quote(str(src))} g1")
    dest = cluster.tmp / "dl"
    dest.mkdir()
    downloader.ok(f"download_file g1 pic.bin {shlex.quote(str(dest))}")
    view = downloader.wait_download("pic.bin")
    sha = sha256_file(src)
    assert sha256_file(dest / "pic.bin") == sha
    assert view["bytes_by_peer"] == {seeder.name: SIZE}
    return seeder, downloader, third, src, sha


def test_nodes_swarm_over_tls_and_a_token_is_useless_to_another_node(cluster: Cluster) -> None:
    alice, bob, carol, src, sha = share_and_download(cluster, ("alice", "bob", "carol"))
    ids = {n.name: load_or_create_identity(n.data_dir) for n in (alice, bob, carol)}  # the nodes' own files
    for n in (alice, bob, carol):
        assert stat.S_IMODE((n.data_dir / "peer-key.pem").stat().st_mode) == 0o600
    assert len({i.fingerprint for i in ids.values()}) == 3
    assert alice.api("/api/status")["fingerprint"] == ids["alice"].fingerprint

    # The tracker lists alice with her certificate's fingerprint and mints bob a token bound to his.
    doc = tracker_view_as(cluster, bob, "pic.bin", ids["bob"].fingerprint)
    listed = {s["user_id"]: s["fingerprint"] for s in doc["seeders"]}
    assert listed["alice"] == ids["alice"].fingerprint
    token = doc["token"]

    # Plaintext to alice's piece port: the server speaks TLS, not the peer protocol, and sends no piece byte.
    plain, _ = talk(alice.piece_port, sha, token, None)
    assert not got_piece(plain) and src.read_bytes()[:64] not in plain

    # Over TLS as bob (his key): alice shows the listed certificate and serves piece 0.
    tls_bytes, server_fp = talk(alice.piece_port, sha, token, ids["bob"])
    assert server_fp == ids["alice"].fingerprint
    pieces = [e for e in frames(tls_bytes) if isinstance(e, Piece)]
    assert pieces and bytes(pieces[0].data) == src.read_bytes()[:PIECE]

    # Bob's token replayed by carol's node (her own key, a genuine proof of it): GOODBYE, no piece byte.
    stolen, _ = talk(alice.piece_port, sha, token, ids["carol"])
    events = frames(stolen)
    assert events and isinstance(events[0], Goodbye) and not got_piece(stolen)


def test_no_tls_nodes_swarm_over_plain_tcp_with_empty_fingerprints(tmp_path: Path) -> None:
    with Cluster(tmp_path, trackers=1, node_args=(*FAST_NODE_ARGS, "--no-tls")) as cluster:
        cluster.start_tracker(1)
        alice, bob, _carol, src, sha = share_and_download(cluster, ("alice", "bob", "carol"))
        assert not (alice.data_dir / "peer-key.pem").exists()
        assert alice.api("/api/status")["fingerprint"] == ""
        doc = tracker_view_as(cluster, bob, "pic.bin", "")
        assert {s["user_id"]: s["fingerprint"] for s in doc["seeders"]}["alice"] == ""
        got, _ = talk(alice.piece_port, sha, doc["token"], None)  # plain TCP: the peer protocol at once
        pieces = [e for e in frames(got) if isinstance(e, Piece)]
        assert pieces and bytes(pieces[0].data) == src.read_bytes()[:PIECE]


def test_a_node_restarted_with_the_other_transport_setting_must_log_in_again(cluster: Cluster) -> None:
    alice = cluster.start_node("alice")
    alice.login()
    alice.kill()
    alice.args = (*FAST_NODE_ARGS, "--no-tls")  # the tracker still lists her TLS fingerprint: no longer true
    alice.start()
    st, body = http_request(alice.web_port, "GET", "/healthz")
    assert st == 200 and json.loads(body)["logged_in"] is False
    alice.ok(f"login alice {shlex.quote(alice.password)}")
    alice.kill()
    alice.start()  # same setting as at login: still logged in
    assert json.loads(http_request(alice.web_port, "GET", "/healthz")[1])["logged_in"] is True
