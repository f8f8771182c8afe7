"""``python -m bench.log_compaction [ENTRIES] [PIECES]``: what log compaction gives back, on a real SQLite file.

Builds a tracker database of ENTRIES log entries (default 20,000: sign-ups, a group and its joins, then logins
and shares of PIECES piece hashes each, one share in five), then runs the tracker's own compaction at the default
entries window (10,000) and at 1,000, and prints for each: the database's size on disk (with its -wal), the time
to load the state at start, a snapshot's size, the compaction's time and its longest transaction, and how long
single-entry writes (as the log writer makes them) waited while it ran. Not run by ``make bench``: a one-off
measure for bench/HISTORY.md.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from tracker_server.compaction import Compactor
from tracker_server.config import TrackerConfig
from tracker_server.log import LogWriter
from tracker_server.service import TrackerService
from tracker_server.state import Entry, Op
from tracker_server.store import Store
from wire.tracker_list import TrackerAddress

USERS = 200


def _ops(count: int, pieces: int) -> list[Op]:
    ops: list[Op] = [{"t": "create_user", "u": f"u{i}", "h": "scrypt$" + "x" * 90, "rq": "r"} for i in range(USERS)]
    ops.append({"t": "create_group", "g": "g", "u": "u0", "rq": "r"})
    for i in range(1, USERS):
        ops.append({"t": "join", "g": "g", "u": f"u{i}", "rq": "r"})
        ops.append({"t": "accept", "g": "g", "u": f"u{i}", "rq": "r"})
    tokens: dict[str, str] = {}
    k = 0
    while len(ops) < count:
        k += 1
        user = f"u{k % USERS}"
        if k % 5:
            token = f"tok{k:040d}"
            drop = [tokens[user]] if user in tokens else []
            tokens[user] = token
            ops.append({"t": "login", "u": user, "token": token, "peer": "127.0.0.1:7000", "fp": "ab" * 32,
                        "drop": drop, "clear": [], "rq": "r"})
        else:
            hashes = [f"{k:032x}{j:032x}" for j in range(pieces)]
            ops.append({"t": "share", "g": "g", "u": user, "rq": "r",
                        "file": {"file_name": f"f{k}", "size": pieces * 524288, "piece_size": 524288,
                                 "sha256": f"{k:064x}", "piece_hashes": hashes}})
    return ops[:count]


def _size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.parent.glob(path.name + "*"))


async def _build(path: Path, count: int, pieces: int) -> None:
    store = await Store.open(path)
    ops = _ops(count, pieces)
    for start in range(0, count, 500):  # group-committed batches, as the writer makes them
        await store.append([Entry(1, i + 1, f"op-{i + 1}", op, {"status": 200, "body": {}})
                            for i, op in enumerate(ops[start:start + 500], start)])
    await store.set_meta("epoch", "1")
    await store.close()


async def _measure(path: Path, keep: int) -> dict[str, float]:
    out: dict[str, float] = {"size_before_mb": _size(path) / 1e6}
    store = await Store.open(path)
    started = time.perf_counter()
    state = await store.load_state()
    out["load_before_s"] = time.perf_counter() - started
    out["snapshot_before_mb"] = len(json.dumps(await store.dump())) / 1e6
    config = TrackerConfig(trackers=(TrackerAddress("127.0.0.1", 1, 1),), tracker_no=1, data_dir=path.parent,
                           secret=b"bench-secret", log_keep_entries=keep, log_keep_seconds=0.0)
    writer = LogWriter(store.append, (state.index, state.last_epoch))
    writer.committed = state.index
    service = TrackerService(config, state, writer)
    waits: list[float] = []
    index = state.index

    async def write_meanwhile(stop: asyncio.Event) -> None:
        nonlocal index
        while not stop.is_set():
            index += 1
            op: Op = {"t": "noop", "rq": "r"}
            t0 = time.perf_counter()
            await store.append([Entry(1, index, f"w-{index}", op, {"status": 200, "body": {}})])
            waits.append(time.perf_counter() - t0)
            writer.durable = (index, 1)
            await asyncio.sleep(0.005)

    stop = asyncio.Event()
    writes = asyncio.create_task(write_meanwhile(stop))
    await asyncio.sleep(1.0)  # the same writes without compaction, for about as long as it takes
    baseline = list(waits)
    started = time.perf_counter()
    result = await Compactor(config, store, service, writer).run_once()
    out["compact_s"] = time.perf_counter() - started
    during = waits[len(baseline):]
    stop.set()
    await writes
    out["deleted"] = result.deleted
    out["write_p50_ms_before"] = statistics.median(baseline) * 1000
    out["write_max_ms_before"] = max(baseline) * 1000
    out["write_p50_ms_during"] = statistics.median(during) * 1000 if during else 0.0
    out["write_max_ms_during"] = max(during) * 1000 if during else 0.0
    out["writes_over_20ms_during"] = sum(1 for w in during if w > 0.020)
    out["writes_during"] = len(during)
    out["snapshot_after_mb"] = len(json.dumps(await store.dump())) / 1e6
    await store.close()
    out["size_after_mb"] = _size(path) / 1e6
    store = await Store.open(path)
    started = time.perf_counter()
    await store.load_state()
    out["load_after_s"] = time.perf_counter() - started
    await store.close()
    return out


async def main(count: int, pieces: int) -> None:
    root = Path(tempfile.mkdtemp(prefix="gs-compact-"))
    try:
        built = root / "built" / "tracker.sqlite3"
        await _build(built, count, pieces)
        for keep in (10_000, 1_000):
            work = root / f"keep{keep}"
            shutil.copytree(built.parent, work)
            os.sync()  # the copy's write-back would otherwise stall the fsyncs measured
            figures = await _measure(work / "tracker.sqlite3", keep)
            print(f"{count} entries, shares of {pieces} pieces, keep {keep}: " +
                  ", ".join(f"{k} {v:.3g}" for k, v in figures.items()), flush=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 20_000,
                     int(sys.argv[2]) if len(sys.argv) > 2 else 256))
