"""Test helpers for the swarm: files with known pieces, tokens, in-process seeders on 127.0.0.1."""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from peer_node.swarm import PieceServer, PieceStore, ServedFiles, ServerLimits, SwarmSnapshot
from peer_node.swarm.peer_link import PeerLink
from wire.pieces import piece_hashes_of
from wire.records import FileMeta, SeederInfo
from wire.tokens import AccessGrant, TokenVerifier, mint_token, public_key_hex, signing_key_from_secret

KEY = signing_key_from_secret(b"swarm tests cluster secret")
OTHER_KEY = signing_key_from_secret(b"some other cluster")
VERIFIER = TokenVerifier([public_key_hex(KEY)])


def size_of(path: Path) -> int:
    return os.stat(path).st_size


def allocated(path: Path) -> int:
    """Bytes the filesystem has given the file (0 for a sparse file with nothing written)."""
    return os.stat(path).st_blocks * 512


def make_file(path: Path, size: int, seed: int = 1) -> bytes:
    data = (hashlib.sha256(str(seed).encode()).digest() * (size // 32 + 1))[:size]
    data = bytes(b ^ (i * 7 & 0xFF) for i, b in enumerate(data[:4096])) + data[4096:]  # not too periodic
    path.write_bytes(data)
    return data


def meta_of(name: str, data: bytes, piece_size: int) -> FileMeta:
    sha, hashes = piece_hashes_of(data, piece_size)
    return FileMeta(name, len(data), piece_size, sha, hashes)


GROUP = "g1"  # the group of every test token unless a test says otherwise


def in_test_group(group_id: str, sha256: str) -> bool:
    """The test servers' ``holds``: they serve what their catalog holds, in the test group only."""
    return group_id == GROUP


def token_for(meta_sha: str, user: str = "downloader", *, key: Ed25519PrivateKey = KEY, ttl: float = 300,
              fingerprint: str = "", group: str = GROUP) -> str:
    return mint_token(key, AccessGrant(user, group, meta_sha, fingerprint, 1, time.time() + ttl))


@dataclass
class Seeder:
    user_id: str
    server: PieceServer
    catalog: ServedFiles
    stores: list[PieceStore] = field(default_factory=list)

    def info(self, pieces: bytes | None = None) -> SeederInfo:
        return SeederInfo(self.user_id, "127.0.0.1", self.server.port, "", pieces)

    def live_info(self, sha: str) -> SeederInfo:
        """As a tracker would list it now: 'all' for a complete store, else its current bitfield."""
        store = self.catalog.get(sha)
        return self.info(None if store is None or store.is_complete else store.bitfield())

    async def close(self) -> None:
        await self.server.close()
        for store in self.stores:
            store.close()


async def start_seeder(user_id: str, stores: list[PieceStore], limits: ServerLimits | None = None,
                       verifier: TokenVerifier | None = VERIFIER, upload_limit: int | None = None) -> Seeder:
    catalog = ServedFiles()
    for store in stores:
        catalog.register(store)
    server = PieceServer("127.0.0.1", 0, catalog, lambda: verifier, limits, holds=in_test_group,
                         upload_limit=upload_limit)
    await server.start()
    return Seeder(user_id, server, catalog, list(stores))


async def seeders_and_partial(tmp_path: Path, size: int, piece_size: int, seeders: int) -> tuple[
        FileMeta, list[Seeder], PieceStore]:
    """``src.bin`` of ``size`` random bytes, ``seeders`` seeders of it (seed0, seed1...), and the partial file of a
    download of it (``dl.part``): what most swarm tests start from."""
    data = make_file(tmp_path / "src.bin", size)
    meta = meta_of("src.bin", data, piece_size)
    started = [await start_seeder(f"seed{i}", [PieceStore.open_complete(tmp_path / "src.bin", meta)])
               for i in range(seeders)]
    return meta, started, PieceStore.open_partial(tmp_path / "dl.part", tmp_path / "dl.state", meta)


def static_source(token: str, seeders: list[SeederInfo]) -> Callable[[], Awaitable[SwarmSnapshot]]:
    async def source() -> SwarmSnapshot:
        return SwarmSnapshot(token, list(seeders))
    return source


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def corrupt_copy(src: bytes, path: Path) -> None:
    """Same size, every byte different: what a seeder whose file changed on disk serves."""
    path.write_bytes(bytes(b ^ 0x5A for b in src))
    os.utime(path)


async def poll_until(condition: Callable[[], bool]) -> None:
    """Wait for ``condition`` (bound the wait with ``asyncio.wait_for``)."""
    for _ in itertools.count():
        if condition():
            return
        await asyncio.sleep(0.02)


def feed_link(link: PeerLink, data: bytes) -> None:
    """Deliver ``data`` to a link as the transport would: into the memory it offers, in as many reads as needed."""
    while data:
        buf = link.get_buffer(-1)
        n = min(len(buf), len(data))
        buf[:n] = data[:n]
        link.buffer_updated(n)
        data = data[n:]
