"""``python -m bench.snapshot_stall [ENTRIES] [PIECES]``: how long a snapshot stops a tracker's event loop.

Builds the database of ``bench.log_compaction`` (20,000 entries, shares of 256 pieces: a 139 MB snapshot), then,
while a ticker task measures the event loop's longest stall (the longest gap between two wake-ups of a 1 ms
sleep), prepares a snapshot as the primary does and takes it as a secondary does, two ways:
- ``loop``: as before this bench: ``Store.dump`` (under the store's lock), the message encoded and signed on the
  loop; on the secondary, the body hashed and ``json.loads`` on the loop, the state rebuilt on the loop;
- ``thread``: ``Store.dump_encoded`` (its own connection, encoded in pieces in a thread, into the message's
  buffer), signed in a thread; on the secondary, hashed and decoded in pieces in a thread, never joined
  (``internal._open_body``), the state rebuilt in a thread (``Store.load_state``).
The install itself (``Store.install``, on aiosqlite's thread) is the same both ways. Not run by ``make bench``.
"""

from __future__ import annotations

import asyncio
import functools
import json
import shutil
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from bench.log_compaction import _build
from tracker_server.cluster_auth import cluster_key, sign, verify
from tracker_server.internal import _open_body
from tracker_server.state_rows import build_state
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
    """From the body's chunks as read from the request (``internal.read_signed``) to the state in memory."""
    if in_thread:
        _, message = await asyncio.to_thread(_open_body, KEY, "POST", PATH, headers, chunks, time.time(), True)
    else:
        raw = b"".join(chunks)
        assert verify(KEY, "POST", PATH, headers, raw, time.time()) == 1
        message = json.loads(raw)
    await store.install(message["snapshot"], 1)
    if in_thread:
        await store.load_state()
    else:  # the rows read as load_state reads them, the state built on the loop (as before)
        async with store._tx:
            rows = await store._state_rows()
        build_state(rows)


async def main(count: int, pieces: int) -> None:
    root = Path(tempfile.mkdtemp(prefix="gs-snapstall-"))
    try:
        source_path = root / "primary" / "tracker.sqlite3"
        await _build(source_path, count, pieces)
        source = await Store.open(source_path)
        for mode in ("loop", "thread", "loop", "thread"):
            in_thread = mode == "thread"
            other = await Store.open(root / f"secondary-{mode}-{time.monotonic_ns()}" / "tracker.sqlite3")
            prepare = _primary_in_thread if in_thread else _primary_on_loop
            body, took, stall = await _stalls(functools.partial(prepare, source))
            headers = sign(KEY, "POST", PATH, 1, body, time.time())
            chunks = [bytes(body[i:i + (1 << 16)]) for i in range(0, len(body), 1 << 16)]
            _, took2, stall2 = await _stalls(functools.partial(_secondary, other, chunks, headers, in_thread))
            await other.close()
            print(f"{mode}: snapshot {len(body) / 1e6:.0f} MB; primary prepares it in {took:.2f} s, loop stalled "
                  f"up to {stall:.0f} ms; secondary takes it (hash, decode, install, state) in {took2:.2f} s, loop "
                  f"stalled up to {stall2:.0f} ms", flush=True)
        await source.close()
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 20_000,
                     int(sys.argv[2]) if len(sys.argv) > 2 else 256))
