"""Downloads from seeders behind an emulated distant link (``bench.link_emulator``: delay and rate, on 127.0.0.1).

Not timed: the figures are the bench's (``python -m bench wan``); these check that a download over a long round
trip completes and verifies, and that a link measures its round trip at the handshake.
"""

from __future__ import annotations

from pathlib import Path

from bench.link_emulator import LinkEmulator, LinkShape
from peer_node.swarm import DownloadEngine, EngineConfig, PieceStore
from peer_node.swarm.peer_link import PeerLink
from tests.swarm.helpers import (
    file_sha256,
    make_file,
    meta_of,
    seeders_and_partial,
    start_seeder,
    static_source,
    token_for,
)
from wire.peer_session import Geometry
from wire.records import SeederInfo

PIECE = 256 * 1024
FAST = EngineConfig(refresh_interval=0.3, no_peer_timeout=5.0, connect_timeout=5.0, retry_delay=0.1)


async def test_a_download_from_seeders_behind_distant_links_completes_and_verifies(tmp_path: Path) -> None:
    meta, seeders, store = await seeders_and_partial(tmp_path, 6 * 1024 * 1024 + 321, PIECE, 2)
    relays = [await LinkEmulator(s.server.port, LinkShape(rtt=0.1, rate=20e6)).start() for s in seeders]
    try:
        far = [SeederInfo(s.user_id, "127.0.0.1", r.port, "", None) for s, r in zip(seeders, relays, strict=True)]
        engine = DownloadEngine(meta, store, static_source(token_for(meta.sha256), far), config=FAST)
        await engine.run()
        assert file_sha256(await store.finish(tmp_path / "out.bin")) == meta.sha256
        assert sum(engine.progress().bytes_by_peer.values()) == meta.size
    finally:
        for r in relays:
            await r.close()
        store.close()
        for s in seeders:
            await s.close()


class _Quiet:
    def on_link_piece(self, *args: object) -> None: ...
    def on_link_reject(self, *args: object) -> None: ...
    def on_link_have(self, *args: object) -> None: ...
    def on_link_lost(self, *args: object) -> None: ...


async def test_a_link_measures_the_round_trip_of_its_handshake(tmp_path: Path) -> None:
    data = make_file(tmp_path / "src.bin", 2 * PIECE)
    meta = meta_of("src.bin", data, PIECE)
    seeder = await start_seeder("seed", [PieceStore.open_complete(tmp_path / "src.bin", meta)])
    try:
        async with LinkEmulator(seeder.server.port, LinkShape(rtt=0.2, rate=10e6)) as relay:
            link = await PeerLink.open(SeederInfo("seed", "127.0.0.1", relay.port, "", None),
                                       Geometry(meta.size, PIECE), _Quiet(), file_sha256=meta.sha256,
                                       token=token_for(meta.sha256), block_size=PIECE)
            try:
                assert link.rtt >= 0.2  # the relay's delay is a floor: a round trip cannot beat it
            finally:
                link.close("test over")
    finally:
        await seeder.close()
