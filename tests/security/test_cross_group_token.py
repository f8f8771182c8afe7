"""A token is for one group's copy of a file. Mallory, in no group with alice, shares a made-up listing of the same
SHA-256 in a group of her own, gets a genuine token for it from the tracker, and shows it to alice's piece server:
she gets a GOODBYE and not one byte. A member's token for the real group still opens it (the control)."""

from __future__ import annotations

import asyncio
import json
import shlex
import uuid
from pathlib import Path
from typing import Any

import pytest

from peer_node.swarm.peer_link import LinkClosed, PeerLink
from peer_node.swarm.tls import load_or_create_identity
from tests.support.cluster import Cluster, Node, http_request, lab_pair, make_file
from wire.peer_session import Geometry
from wire.records import FileMeta, SeederInfo


class Quiet:
    """A link handler that only needs the handshake."""

    def on_link_piece(self, link: PeerLink, job: Any) -> None: ...
    def on_link_reject(self, link: PeerLink, job: Any) -> None: ...
    def on_link_have(self, link: PeerLink, index: int) -> None: ...
    def on_link_lost(self, link: PeerLink, reason: str) -> None: ...


def tracker_call(c: Cluster, node: Node, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    """The tracker API as ``node``'s user (its session token from its data dir)."""
    token = json.loads((node.data_dir / "session.json").read_text("utf-8"))["session"]
    data = json.dumps({**body, "op_id": uuid.uuid4().hex}).encode() if body is not None else None
    status, raw = http_request(c.tracker_ports[0], method, f"/api/v1{path}", data,
                               {"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    assert status < 300, (status, raw)
    return json.loads(raw)


async def handshake(node: Node, meta: FileMeta, token: str, seeder_port: int, fingerprint: str) -> PeerLink:
    link = await PeerLink.open(SeederInfo("alice", "127.0.0.1", seeder_port, fingerprint, None),
                               Geometry(meta.size, meta.piece_size), Quiet(),
                               file_sha256=meta.sha256, token=token, block_size=1 << 16,
                               tls=load_or_create_identity(node.data_dir))
    return link


async def test_a_token_minted_for_another_group_opens_nothing(tmp_path: Path) -> None:
    src = make_file(tmp_path / "secret.bin", 300_000, 5)
    with Cluster(tmp_path / "c") as c:
        alice, bob = lab_pair(c)
        mallory = c.start_node("mallory")
        mallory.login()
        alice.ok(f"upload_file {shlex.quote(str(src))} lab")
        real = tracker_call(c, bob, "GET", "/groups/lab/files/secret.bin")
        meta = FileMeta.from_json(real)
        fingerprint = real["seeders"][0]["fingerprint"]

        # bob, a member, with the token for lab: the handshake succeeds (so the refusal below is about the group)
        link = await asyncio.wait_for(handshake(bob, meta, real["token"], alice.piece_port, fingerprint), 30)
        link.close("done")

        # mallory lists the same bytes in her own group: only the last chaining value must match the SHA-256
        mallory.ok("create_group mgrp")
        decoy = {**meta.to_json(), "file_name": "decoy.bin",
                 "piece_hashes": ["00" * 32] * (meta.piece_count - 1) + [meta.sha256]}
        tracker_call(c, mallory, "POST", "/groups/mgrp/files", decoy)
        forged = tracker_call(c, mallory, "GET", "/groups/mgrp/files/decoy.bin")["token"]
        with pytest.raises(LinkClosed, match="does not share that file in the token's group"):
            await asyncio.wait_for(handshake(mallory, meta, forged, alice.piece_port, fingerprint), 30)
