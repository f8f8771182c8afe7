"""The upload limit: the token bucket's arithmetic (pure, time passed in), the fair queue's order, the senders'
turns under a limit, and a limited piece server over sockets."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from peer_node.swarm import DownloadEngine, EngineConfig, PieceStore
from peer_node.swarm.pacer import BURST_SECONDS, FairQueue, TokenBucket
from peer_node.swarm.upload_limit import UploadLimit
from tests.swarm.helpers import (
    Seeder,
    file_sha256,
    make_file,
    meta_of,
    poll_until,
    start_seeder,
    static_source,
    token_for,
)
from wire.records import FileMeta

PIECE = 16 * 1024
FAST = EngineConfig(refresh_interval=0.3, no_peer_timeout=10.0, connect_timeout=2.0, retry_delay=0.1)


def test_no_rate_never_holds_a_block_back() -> None:
    bucket = TokenBucket(None, now=0.0)
    for i in range(100):
        bucket.spend(1 << 20, now=i * 1e-6)
        assert bucket.delay(now=i * 1e-6) == 0.0


def test_a_block_leaves_a_debt_that_holds_the_next_one_back_for_its_time_on_the_link() -> None:
    bucket = TokenBucket(1000, now=0.0)
    assert bucket.delay(now=0.0) == 0.0  # not in debt: a block goes, however large
    bucket.spend(500, now=0.0)
    assert bucket.delay(now=0.0) == pytest.approx(0.5)
    assert bucket.delay(now=0.2) == pytest.approx(0.3)
    assert bucket.delay(now=0.5) == 0.0


def test_an_idle_bucket_holds_only_a_short_burst() -> None:
    bucket = TokenBucket(1000, now=0.0)
    assert bucket.delay(now=3600.0) == 0.0
    bucket.spend(int(1000 * BURST_SECONDS) + 400, now=3600.0)  # an hour idle buys a burst, not an hour's bytes
    assert bucket.delay(now=3600.0) == pytest.approx(0.4)


def test_a_new_rate_pays_the_old_debt_at_the_new_speed_and_none_lifts_it() -> None:
    bucket = TokenBucket(100, now=0.0)
    bucket.spend(1000, now=0.0)
    assert bucket.delay(now=0.0) == pytest.approx(10.0)
    bucket.set_rate(1000, now=1.0)  # 900 bytes still owed, at 1000 a second
    assert bucket.rate == 1000
    assert bucket.delay(now=1.0) == pytest.approx(0.9)
    bucket.set_rate(None, now=1.0)
    assert bucket.delay(now=1.0) == 0.0 and bucket.rate is None


def test_a_rate_is_positive() -> None:
    with pytest.raises(ValueError):
        TokenBucket(0, now=0.0)
    with pytest.raises(ValueError):
        TokenBucket(100, now=0.0).set_rate(-5, now=1.0)


@given(rate=st.integers(1, 10**9), blocks=st.lists(st.integers(1, 1 << 20), min_size=1, max_size=60),
       gaps=st.lists(st.floats(0, 5), min_size=60, max_size=60))
def test_senders_that_wait_as_told_never_beat_the_rate_by_more_than_a_burst_and_a_block(
        rate: int, blocks: list[int], gaps: list[float]) -> None:
    """Whatever the block sizes and pauses: bytes sent by any moment <= rate x time + a burst + one block."""
    bucket = TokenBucket(rate, now=0.0)
    now, sent = 0.0, 0
    for block, gap in zip(blocks, gaps, strict=False):
        now += gap * block / rate  # the sender pauses, then asks
        now += bucket.delay(now)
        bucket.spend(block, now)
        sent += block
        assert sent <= rate * now + rate * BURST_SECONDS + block + 1e-6 * rate


def test_the_fair_queue_shares_by_bytes_so_a_small_block_goes_before_large_ones_queued_earlier() -> None:
    queue: FairQueue[str] = FairQueue()
    queue.push("a", 2_000_000, "a1")
    queue.push("b", 2_000_000, "b1")
    queue.push("tiny", 2, "tiny1")  # queued last, goes first: it asks for far fewer bytes
    assert [queue.pop() for _ in range(3)] == ["tiny1", "a1", "b1"]
    queue.push("a", 1000, "a2")
    queue.push("a", 1000, "a3")  # a's second block is tagged after its first
    queue.push("b", 1500, "b2")
    assert [queue.pop() for _ in range(3)] == ["a2", "b2", "a3"]
    assert len(queue) == 0


@given(sizes=st.lists(st.tuples(st.sampled_from("abc"), st.integers(1, 1 << 21)), min_size=1, max_size=80))
def test_the_fair_queue_gives_back_every_block_once_each_connection_s_in_its_own_order(
        sizes: list[tuple[str, int]]) -> None:
    queue: FairQueue[tuple[str, int]] = FairQueue()
    for i, (who, nbytes) in enumerate(sizes):
        queue.push(who, nbytes, (who, i))
    out = [queue.pop() for _ in range(len(sizes))]
    assert sorted(out) == sorted((who, i) for i, (who, _) in enumerate(sizes))
    for who in "abc":
        mine = [i for w, i in out if w == who]
        assert mine == sorted(mine)


async def test_under_a_limit_a_sender_of_a_small_block_gets_the_next_turn_not_a_lottery_of_wake_ups() -> None:
    """Two senders push 200 kB blocks back to back at 1 MB/s; a third asks for 10 bytes: it goes as soon as the
    block the limit is paying for now is paid, before either big sender's next block (before, each woke when its
    own wait ended, and the one that had asked last kept losing)."""
    limit = UploadLimit(1_000_000)
    turns: list[str] = []

    async def sender(who: str, blocks: int, nbytes: int) -> None:
        for _ in range(blocks):
            await limit.pace(nbytes, who)
            turns.append(who)

    big = [asyncio.create_task(sender(who, 4, 200_000)) for who in ("a", "b")]
    try:
        await asyncio.wait_for(poll_until(lambda: len(turns) >= 2), 10)
        before = len(turns)
        await asyncio.wait_for(sender("tiny", 1, 10), 10)
        assert turns.index("tiny") <= before + 1, turns  # at most the block already granted meanwhile
        await asyncio.wait_for(asyncio.gather(*big), 10)
        assert turns.count("a") == turns.count("b") == 4
    finally:
        for task in big:
            task.cancel()
        await limit.close()


async def test_a_sender_cancelled_while_it_waits_loses_its_turn_and_nobody_else_s() -> None:
    limit = UploadLimit(1_000)
    await limit.pace(1_000, "a")  # not in debt: at once; the next waits about a second
    waiting = asyncio.create_task(limit.pace(10, "gone"))
    await asyncio.sleep(0.05)
    waiting.cancel()
    limit.set_rate(None)  # lifted: everyone left goes at once
    await asyncio.wait_for(limit.pace(10, "b"), 5)
    assert waiting.cancelled()
    await limit.close()


async def test_a_limited_seeder_keeps_to_its_rate_beside_an_unlimited_one(tmp_path: Path) -> None:
    """Two seeders of one file, one of them at 64 kB/s: the download completes, the limited one was held back and
    never sent more than its rate allows over the time the download took (whatever that time was)."""
    rate = 64_000
    data = make_file(tmp_path / "src.bin", 2 * 1024 * 1024 + 99)
    meta = meta_of("src.bin", data, PIECE)
    limited = await start_seeder("slow", [PieceStore.open_complete(tmp_path / "src.bin", meta)])
    free = await start_seeder("fast", [PieceStore.open_complete(tmp_path / "src.bin", meta)])
    limited.server.set_upload_limit(rate)
    store = PieceStore.open_partial(tmp_path / "dl.part", tmp_path / "dl.state", meta)
    try:
        engine = DownloadEngine(meta, store, static_source(token_for(meta.sha256), [limited.info(), free.info()]),
                                config=FAST)
        t0 = time.monotonic()
        await asyncio.wait_for(engine.run(), 60)
        elapsed = time.monotonic() - t0
        final = await store.finish(tmp_path / "out.bin")
        assert file_sha256(final) == meta.sha256
        assert limited.server.upload_limit == rate and free.server.upload_limit is None
        sent = limited.server.bytes_sent_total
        assert 0 < sent <= rate * (elapsed + BURST_SECONDS) + PIECE
        assert free.server.bytes_sent_total + sent >= meta.size
    finally:
        store.close()
        await limited.close()
        await free.close()


@dataclass
class LimitedSeeder:
    """One seeder of a file, held to an upload limit, and an empty download of that file."""
    meta: FileMeta
    seeder: Seeder
    store: PieceStore

    def engine(self, config: EngineConfig, on_piece: Callable[[int], None] | None = None) -> DownloadEngine:
        source = static_source(token_for(self.meta.sha256), [self.seeder.info()])
        return DownloadEngine(self.meta, self.store, source, on_piece=on_piece, config=config)

    def last_error(self, engine: DownloadEngine) -> str:
        """What ``engine`` last recorded against this seeder ("" before anything)."""
        peer = engine.roster.get(self.seeder.info().addr)
        return peer.last_error if peer is not None else ""


@contextlib.asynccontextmanager
async def limited_seeder(tmp_path: Path, pieces: int, rate: int) -> AsyncIterator[LimitedSeeder]:
    data = make_file(tmp_path / "src.bin", pieces * PIECE)
    meta = meta_of("src.bin", data, PIECE)
    seeder = await start_seeder("slow", [PieceStore.open_complete(tmp_path / "src.bin", meta)])
    seeder.server.set_upload_limit(rate)
    store = PieceStore.open_partial(tmp_path / "dl.part", tmp_path / "dl.state", meta)
    try:
        yield LimitedSeeder(meta, seeder, store)
    finally:
        store.close()
        await seeder.close()


async def test_lifting_the_limit_frees_a_sender_that_is_waiting_on_it(tmp_path: Path) -> None:
    """At 1 byte a second the second block would wait hours; lifting the limit lets it go at once."""
    async with limited_seeder(tmp_path, 8, 1) as one:
        first = asyncio.Event()  # the first block goes at once: the bucket was not in debt
        run = asyncio.create_task(one.engine(FAST, on_piece=lambda _index: first.set()).run())
        await asyncio.wait_for(first.wait(), 30)
        await asyncio.sleep(0.3)
        assert one.seeder.server.bytes_sent_total == PIECE and not run.done()  # the rest wait on the limit
        one.seeder.server.set_upload_limit(None)
        await asyncio.wait_for(run, 30)
        assert file_sha256(await one.store.finish(tmp_path / "out.bin")) == one.meta.sha256


async def test_a_peer_held_to_a_slow_limit_is_not_dropped_while_its_blocks_keep_coming(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A block every 0.8 s, all 12 requested at once: the last waits about 9 s, far past request_timeout (3 s),
    yet bytes never stop for that long, so the only seeder stays linked until the download completes."""
    config = EngineConfig(no_peer_timeout=10.0, request_timeout=3.0, latency_target=10.0, max_depth=16)
    caplog.set_level(logging.DEBUG, logger="peer_node.swarm.engine")
    async with limited_seeder(tmp_path, 12, PIECE * 5 // 4) as one:  # 0.8 s a block
        await asyncio.wait_for(one.engine(config).run(), 60)
        closes = [r.getMessage() for r in caplog.records if "retry in" in r.getMessage()]
        assert closes and all("download over" in c for c in closes), closes  # never "peer stalled"
        assert file_sha256(await one.store.finish(tmp_path / "out.bin")) == one.meta.sha256


async def test_a_peer_that_sends_nothing_for_request_timeout_is_still_dropped(tmp_path: Path) -> None:
    """At 1 byte a second the second block would take hours: after request_timeout without a byte the link is
    closed as stalled; once the limit is lifted the download completes from the same seeder."""
    config = EngineConfig(no_peer_timeout=30.0, request_timeout=1.0, retry_delay=0.1, max_retry_delay=0.5)
    async with limited_seeder(tmp_path, 4, 1) as one:
        engine = one.engine(config)
        run = asyncio.create_task(engine.run())
        await asyncio.wait_for(poll_until(lambda: one.last_error(engine) == "peer stalled"), 30)
        one.seeder.server.set_upload_limit(None)
        await asyncio.wait_for(run, 30)
        assert file_sha256(await one.store.finish(tmp_path / "out.bin")) == one.meta.sha256
