"""The picker's count of who holds each piece follows the links exactly: a HAVE that arrives with the peer's
BITFIELD, before the engine has registered the link, is counted once, and a lost link takes its pieces away."""

from __future__ import annotations

import asyncio
from pathlib import Path

from peer_node.swarm import DownloadEngine, PieceStore
from tests.swarm.helpers import make_file, meta_of, poll_until, static_source, token_for
from tests.swarm.test_download import FAST
from wire.peer_protocol import Bitfield, Have, encode
from wire.records import SeederInfo

PIECE = 16 * 1024


async def test_a_have_sent_with_the_bitfield_is_counted_once_and_goes_with_the_link(tmp_path: Path) -> None:
    data = make_file(tmp_path / "src.bin", 4 * PIECE)
    meta = meta_of("src.bin", data, PIECE)
    leave = asyncio.Event()

    async def partial_holder(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(4096)  # the handshake
        writer.write(encode(Bitfield(bytes([0x80]))) + encode(Have(1)))  # piece 0, and just now piece 1
        await writer.drain()
        await leave.wait()  # it never sends a piece
        writer.close()

    server = await asyncio.start_server(partial_holder, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    store = PieceStore.open_partial(tmp_path / "dl.part", tmp_path / "dl.state", meta)
    engine = DownloadEngine(meta, store, static_source(token_for(meta.sha256), [
        SeederInfo("holder", "127.0.0.1", port, "", bytes([0x80]))]), config=FAST)
    run = asyncio.create_task(engine.run())
    try:
        await asyncio.wait_for(poll_until(lambda: any(engine.picker.availability)), 10)
        await asyncio.sleep(0.1)  # a second count, were there one, would have come with the first
        assert engine.picker.availability == [1, 1, 0, 0]
        leave.set()
        await asyncio.wait_for(poll_until(lambda: not any(engine.picker.availability)), 10)
        assert engine.picker.availability == [0, 0, 0, 0]
    finally:
        run.cancel()
        await asyncio.gather(run, return_exceptions=True)
        server.close()
        await server.wait_closed()
        store.close()
