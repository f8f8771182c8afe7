"""Downloads over real sockets on 127.0.0.1 from in-process seeders."""

from __future__ import annotations

from pathlib import Path

from peer_node.swarm import DownloadEngine, EngineConfig, PieceStore
from tests.swarm.helpers import file_sha256, make_file, meta_of, start_seeder, static_source, token_for

PIECE = 16 * 1024
FAST = EngineConfig(refresh_interval=0.5, no_peer_timeout=3.0, connect_timeout=2.0, retry_delay=0.1)


async def test_download_from_three_seeders_uses_every_seeder(tmp_path: Path) -> None:
    data = make_file(tmp_path / "src.bin", 3 * 1024 * 1024 + 123)
    meta = meta_of("src.bin", data, PIECE)
    seeders = [await start_seeder(f"seed{i}", [PieceStore.open_complete(tmp_path / "src.bin", meta)])
               for i in range(3)]
    store = PieceStore.open_partial(tmp_path / "dl.part", tmp_path / "dl.state", meta)
    try:
        engine = DownloadEngine(meta, store, static_source(token_for(meta.sha256), [s.info() for s in seeders]),
                                config=FAST)
        await engine.run()
        final = await store.finish(tmp_path / "out.bin")
        assert file_sha256(final) == meta.sha256
        by_peer = engine.progress().bytes_by_peer
        assert set(by_peer) == {"seed0", "seed1", "seed2"}
        assert sum(by_peer.values()) == meta.size
        assert all(s.server.bytes_sent_total > 0 for s in seeders)
    finally:
        store.close()
        for s in seeders:
            await s.close()
