"""Which listed holders the engine connects to first: how many pieces we lack each one holds (masks)."""

from __future__ import annotations

from pathlib import Path

from peer_node.swarm import DownloadEngine, PieceStore
from tests.swarm.helpers import make_file, meta_of, static_source, token_for
from wire.records import SeederInfo

PIECE = 16 * 1024


def _holder(pieces: bytes | None) -> SeederInfo:
    return SeederInfo("holder", "127.0.0.1", 9, "", pieces)


async def test_usefulness_counts_the_pieces_a_holder_has_that_we_lack(tmp_path: Path) -> None:
    data = make_file(tmp_path / "src.bin", 10 * PIECE)  # 10 pieces: a bitfield of 2 bytes
    meta = meta_of("src.bin", data, PIECE)
    store = PieceStore.open_partial(tmp_path / "dl.part", tmp_path / "dl.state", meta)
    try:
        for i in (0, 1, 8):  # we hold pieces 0, 1 and 8
            assert store.verify_and_write(i, memoryview(data)[i * PIECE:(i + 1) * PIECE])
            store.mark_verified(i)
        engine = DownloadEngine(meta, store, static_source(token_for(meta.sha256), []))
        assert engine._usefulness(_holder(None)) == 10  # a whole-file seeder: every piece counts
        assert engine._usefulness(_holder(bytes([0b11000000, 0b10000000]))) == 0  # 0, 1, 8: all ours already
        assert engine._usefulness(_holder(bytes([0b11110000, 0b11000000]))) == 3  # 2, 3 and 9 are new to us
        assert engine._usefulness(_holder(bytes([0xFF, 0xFF]))) == 7  # bits past piece 9 are not pieces
        assert engine._usefulness(_holder(bytes([0b00100000]))) == 1  # a short bitfield: what it says
    finally:
        store.close()
