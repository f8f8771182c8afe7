"""DocumentWrites: a write stores every change made before it began; a failed one leaves each change to its own
caller's write, so whoever hears success is stored, and whoever hears failure is not."""

from __future__ import annotations

import asyncio
import json
import threading
from pathlib import Path

from peer_node.state import DownloadRecord, NodeState, StateNotSaved
from peer_node.state_writes import DocumentWrites, Encode
from peer_node.views import DownloadState


class Disk:
    """Writes as ``write_atomic`` does, counting them, refusing the ones asked to, from the writing thread."""

    def __init__(self) -> None:
        self.written: list[object] = []
        self.refuse = 0
        self.threads: set[str] = set()

    def write(self, path: Path, data: bytes) -> None:
        self.threads.add(threading.current_thread().name)
        if self.refuse:
            self.refuse -= 1
            raise OSError(28, "No space left on device")
        path.write_bytes(data)
        self.written.append(json.loads(data))


async def test_changes_made_while_a_write_runs_go_out_together_in_the_next(tmp_path: Path) -> None:
    disk, table = Disk(), [0]
    writes = DocumentWrites(tmp_path, disk.write)

    def snapshot() -> Encode:
        now = list(table)
        return lambda: now

    async def change(value: int) -> None:
        table.append(value)
        await writes.save("doc.json", snapshot)

    await asyncio.gather(*(change(v) for v in range(1, 101)))
    assert json.loads((tmp_path / "doc.json").read_text()) == list(range(101))
    assert len(disk.written) < 10  # not a hundred: each write took every change made before it began
    assert threading.main_thread().name not in disk.threads  # encoded and written off the event loop


async def test_a_failed_write_is_heard_by_its_caller_and_the_changes_it_held_are_written_by_theirs(
        tmp_path: Path) -> None:
    disk, table = Disk(), list[int]()
    writes = DocumentWrites(tmp_path, disk.write)
    disk.refuse = 1

    def snapshot() -> Encode:
        now = list(table)
        return lambda: now

    async def change(value: int) -> str:
        table.append(value)
        try:
            await writes.save("doc.json", snapshot)
        except StateNotSaved:
            table.remove(value)  # as NodeState undoes a change the disk refused
            return "refused"
        return "stored"

    answers = await asyncio.gather(*(change(v) for v in range(5)))
    assert answers[0] == "refused" and answers[1:] == ["stored"] * 4
    stored = json.loads((tmp_path / "doc.json").read_text())
    assert stored == [1, 2, 3, 4]  # every change heard as stored is, and the refused one is not


async def test_many_downloads_recorded_at_once_are_one_or_two_writes_and_all_kept(tmp_path: Path) -> None:
    state = NodeState(tmp_path / "node")
    state.load()
    await asyncio.gather(*(state.put_download(DownloadRecord("u", "g", f"f{i}.bin", f"/dl/f{i}.bin",
                                                             DownloadState.RUNNING.value)) for i in range(200)))
    again = NodeState(tmp_path / "node")
    again.load()
    assert sorted(again.downloads) == sorted(("u", "g", f"f{i}.bin") for i in range(200))

