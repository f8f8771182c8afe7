"""``python -m bench.snapshot_stall [ENTRIES] [PIECES]``: how long a snapshot stops a tracker's event loop.

Builds the database of ``bench.log_compaction`` (20,000 entries, shares of 256 pieces: a 139 MB snapshot), then,
while a ticker task measures the event loop's longest stall (the longest gap between two wake-ups of a 1 ms
sleep), prepares a snapshot as the primary does and takes it as a secondary does, two ways:
- ``loop``: as before this bench: ``Store.dump`` (under the store's lock), the message encoded and signed on the
  loop; on the secondary, the body hashed and ``json.loads`` on the loop, the state read and rebuilt on the loop,
  and the state it held (as big) dropped there;
- ``thread``: ``Store.dump_encoded`` (its own connection, encoded in pieces in a thread, into the message's
  buffer), signed in a thread; on the secondary, hashed and decoded in pieces in a thread, never joined
  (``internal._open_body``), the state read and rebuilt in a thread (``Store.load_state``), and the state it held
  freed in steps in a thread (``state_rows.release``), as ``snapshot_routes`` does.
The install itself (``Store.install``, on aiosqlite's thread) is the same both ways. Run under the tracker
process's collector settings (``tracker_server.__main__._tune_gc``: the state loaded frozen, its thresholds), which
the stalls depend on. Not run by ``make bench``.
"""

from __future__ import annotations

import asyncio
import functools
import gc
import json
import shutil
import sqlite3
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from bench.log_compaction import _build
from tracker_server.__main__ import GC_THRESHOLDS
from tracker_server.cluster_auth import cluster_key, sign, verify
from tracker_server.internal import _open_body
from tracker_server.state import State
from tracker_server.state_rows import SELECTS, StateRows, build_state, release
from tracker_server.store import Store

KEY = cluster_key(b"bench-secret")
PATH = "/internal/v1/snapshot"


async def _stalls(work: Callable[[], Awaitable[Any]]) -> tuple[Any, float, float]:
    """(the work's result, its time in s, the loop's longest stall meanwhile in ms)."""
    longest = 0.0
    done = False

    async def tick() -> None:
        nonlocal longest
        last = time.perf_counter()
        while not done:
            await asyncio.sleep(0.001)
            now = time.perf_counter()
            longest, last = max(longest, now - last), now

    ticker = asyncio.create_task(tick())
    await asyncio.sleep(0.01)
    started = time.perf_counter()
    result = await work()
    took = time.perf_counter() - started
    done = True
    await ticker
    return result, took, longest * 1000


async def _primary_on_loop(store: Store) -> bytes | bytearray:
    body = json.dumps({"epoch": 1, "from": 1, "snapshot": await store.dump()}, separators=(",", ":")).encode()
    sign(KEY, "POST", PATH, 1, body, time.time())
    return body


async def _primary_in_thread(store: Store) -> bytes | bytearray:
    body = await store.dump_encoded(before=b'{"epoch":1,"from":1,"snapshot":', after=b"}")
    await asyncio.to_thread(sign, KEY, "POST", PATH, 1, body, time.time())
    return body


async def _secondary(store: Store, chunks: list[bytes], headers: dict[str, str], in_thread: bool) -> None:
    """From the body's chunks as read from the request (``internal.read_signed``) to the tables installed."""
    if in_thread:
        _, message = await asyncio.to_thread(_open_body, KEY, "POST", PATH, headers, chunks, time.time(), True)
    else:
        raw = b"".join(chunks)
        assert verify(KEY, "POST", PATH, headers, raw, time.time()) == 1
        message = json.loads(raw)
    await store.install(message["snapshot"], 1)


async def _rebuild(store: Store, in_thread: bool, held: list[State]) -> None:
    """The state in memory rebuilt from the tables installed, replacing the one ``held``."""
    assert store.path is not None
    if in_thread:
        old, held[0] = held[0], await store.load_state()
        await asyncio.to_thread(release, old)
    else:  # the rows read whole, the state built on the loop, the old one dropped there (as before)
        conn = sqlite3.connect(str(store.path))
        try:
            rows = {name: conn.execute(sql).fetchall() for name, sql in SELECTS.items()}
        finally:
            conn.close()
        held[0] = build_state(StateRows(**rows, compaction_point=await store.compaction_point(),
                                        stored_epoch=int(await store.get_meta("epoch", "0") or 0)))


def tracker_gc() -> None:
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


async def main(count: int, pieces: int) -> None:
    thresholds = gc.get_threshold()
    root = Path(tempfile.mkdtemp(prefix="gs-snapstall-"))
    try:
        source_path = root / "primary" / "tracker.sqlite3"
        await _build(source_path, count, pieces)
        source = await Store.open(source_path)
        tracker_gc()  # the tracker process's collector: its durable state frozen, its thresholds
        for mode in ("loop", "thread", "loop", "thread"):
            in_thread = mode == "thread"
            other = await Store.open(root / f"secondary-{mode}-{time.monotonic_ns()}" / "tracker.sqlite3")
            prepare = _primary_in_thread if in_thread else _primary_on_loop
            body, took, stall = await _stalls(functools.partial(prepare, source))
            headers = sign(KEY, "POST", PATH, 1, body, time.time())
            chunks = [bytes(body[i:i + (1 << 16)]) for i in range(0, len(body), 1 << 16)]
            _, took2, stall2 = await _stalls(functools.partial(_secondary, other, chunks, headers, in_thread))
            held = [await source.load_state()]  # the state the secondary holds: as big
            _, took3, stall3 = await _stalls(functools.partial(_rebuild, other, in_thread, held))
            del held
            await other.close()
            print(f"{mode}: snapshot {len(body) / 1e6:.0f} MB; primary prepares it in {took:.2f} s, loop stalled "
                  f"up to {stall:.0f} ms; secondary takes it (hash, decode, install) in {took2:.2f} s, loop "
                  f"stalled up to {stall2:.0f} ms; its state rebuilt and swapped in {took3:.2f} s, loop stalled "
                  f"up to {stall3:.0f} ms", flush=True)
        await source.close()
    finally:
        gc.unfreeze()  # as it was (a test runs this in its own process)
        gc.set_threshold(*thresholds)
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 20_000,
                     int(sys.argv[2]) if len(sys.argv) > 2 else 256))
