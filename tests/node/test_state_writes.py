"""DocumentWrites: a write stores every change made before it began; a failed one leaves each change to its own
caller's write, so whoever hears success is stored, and whoever hears failure is not."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable
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
            return "refused"
        return "stored"

    answers = await asyncio.gather(*(change(v) for v in range(5)))
    assert answers == ["refused"] + ["stored"] * 4  # the first write failed; the next held the other four
    assert json.loads((tmp_path / "doc.json").read_text()) == [0, 1, 2, 3, 4]
    assert len(disk.written) == 1


async def test_a_write_never_stores_a_change_asked_for_after_another_documents_save(tmp_path: Path) -> None:
    """A download becomes complete in memory, then its share is saved, then its C: a save of downloads.json that
    was already waiting must not store the C before shares.json holds the share (a node stopped in between
    restarted with a complete download nothing served)."""
    disk = Disk()
    writes = DocumentWrites(tmp_path, disk.write)
    downloads, shares = ["other.bin running"], list[str]()

    def of(table: list[str]) -> Callable[[], Encode]:
        def snapshot() -> Encode:
            now = list(table)
            return lambda: now
        return snapshot

    first = asyncio.create_task(writes.save("downloads.json", of(downloads)))  # holds the lock: a slow fsync
    await asyncio.sleep(0)
    waiting = asyncio.create_task(writes.save("downloads.json", of(downloads)))  # waits its turn
    await asyncio.sleep(0)
    downloads.append("data.bin complete")  # C shows at once ...
    shares.append("data.bin")
    share_saved = asyncio.create_task(writes.save("shares.json", of(shares)))  # ... the share goes first ...
    await asyncio.sleep(0)
    complete_saved = asyncio.create_task(writes.save("downloads.json", of(downloads)))  # ... then the C
    await asyncio.gather(first, waiting, share_saved, complete_saved)
    order = disk.written
    assert order.index(["data.bin"]) < order.index(["other.bin running", "data.bin complete"])
    assert ["other.bin running", "data.bin complete"] not in order[:order.index(["data.bin"])]


async def test_a_caller_cancelled_while_its_write_runs_lets_no_other_write_begin_beside_it(tmp_path: Path) -> None:
    """A stop cancels tasks in the middle of their saves: the next write began while the cancelled one's thread
    still wrote, and the older document could land last, after a caller had heard its change stored."""
    release, entered = threading.Event(), threading.Event()
    landed: list[object] = []

    def slow_write(path: Path, data: bytes) -> None:
        if not landed and not entered.is_set():
            entered.set()
            release.wait(5)  # the first write's fsync, slow
        landed.append(json.loads(data))
        path.write_bytes(data)

    writes = DocumentWrites(tmp_path, slow_write)
    table = ["a.bin"]

    def snapshot() -> Encode:
        now = list(table)
        return lambda: now

    first = asyncio.create_task(writes.save("doc.json", snapshot))
    await asyncio.to_thread(entered.wait, 5)
    first.cancel()
    await asyncio.sleep(0.05)
    table.append("b.bin")
    second = asyncio.create_task(writes.save("doc.json", snapshot))
    await asyncio.sleep(0.1)
    assert landed == []  # the second waits for the first's thread, though its caller was cancelled
    release.set()
    await second
    assert landed == [["a.bin"], ["a.bin", "b.bin"]]
    assert json.loads((tmp_path / "doc.json").read_text()) == ["a.bin", "b.bin"]


async def test_many_downloads_recorded_at_once_are_one_or_two_writes_and_all_kept(tmp_path: Path) -> None:
    state = NodeState(tmp_path / "node")
    state.load()
    await asyncio.gather(*(state.put_download(DownloadRecord("u", "g", f"f{i}.bin", f"/dl/f{i}.bin",
                                                             DownloadState.RUNNING.value)) for i in range(200)))
    again = NodeState(tmp_path / "node")
    again.load()
    assert sorted(again.downloads) == sorted(("u", "g", f"f{i}.bin") for i in range(200))

