"""DownloadManager without a network: a download of a file the catalog serves whole is filled from that copy, and
its row says so while the copy runs (state Copying, the pieces so far, the copy's path)."""

from __future__ import annotations

from pathlib import Path
from typing import cast

from peer_node.downloads import DownloadManager
from peer_node.state import DownloadRecord, NodeState
from peer_node.swarm import PieceStore
from peer_node.swarm.catalog import ServedFiles
from peer_node.tracker_client import TrackerClient
from peer_node.views import DownloadState, DownloadView
from tests.swarm.helpers import make_file, meta_of

PIECE = 16 * 1024


async def test_the_row_shows_the_local_copy_while_it_runs_then_the_pieces_are_all_there(tmp_path: Path) -> None:
    data = make_file(tmp_path / "shared.bin", 4 * PIECE)
    meta = meta_of("data.bin", data, PIECE)
    catalog = ServedFiles()
    shared = PieceStore.open_complete(tmp_path / "shared.bin", meta)
    catalog.register(shared)
    state = NodeState(tmp_path / "node")
    state.load()

    async def registered(_share: object) -> None:
        return None

    mgr = DownloadManager(state, cast(TrackerClient, None), catalog, no_peer_timeout=5.0,
                          on_complete=registered, on_change=lambda: None)
    (tmp_path / "dl").mkdir()
    rec = DownloadRecord("alice", "lab", "data.bin", str(tmp_path / "dl" / "data.bin"),
                         DownloadState.RUNNING.value, meta)
    await state.put_download(rec)
    rows: list[DownloadView] = []
    mgr._piece_done = lambda index: rows.append(mgr.view(rec))  # type: ignore[method-assign]

    store = await mgr._open(rec)
    assert catalog.get(meta.sha256) is shared  # a partial copy never hides the whole one
    await mgr._copy_local(rec, store)

    first = rows[0]
    assert first.state is DownloadState.RUNNING and first.copying_from == str(tmp_path / "shared.bin")
    assert first.bytes_done == PIECE and first.piece_states == "d..."
    assert [r.piece_states for r in rows] == ["d...", "dd..", "ddd.", "dddd"]
    assert store.missing_count == 0
    assert mgr.view(rec).copying_from == ""  # over
    await store.finish(tmp_path / "dl" / "data.bin")
    assert (tmp_path / "dl" / "data.bin").read_bytes() == data
    store.close()
    shared.close()
