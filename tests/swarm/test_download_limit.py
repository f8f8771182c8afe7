"""The download limit: the shared budget's logic with an injected clock and timers (who may request, who is woken
and in what order, a new limit, a refused piece given back), the depth it allows, and engines held to it over
sockets: correct bytes, no faster than the limit over the run, never failed as stalled while they wait on it."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from peer_node.swarm import DownloadEngine, EngineConfig, PieceStore, ServerLimits
from peer_node.swarm.download_limit import DownloadLimit, RequestGate, Wake
from peer_node.swarm.pacer import BURST_SECONDS
from peer_node.swarm.peer_link import PeerLink, PieceJob, depth_for
from tests.swarm.helpers import file_sha256, make_file, meta_of, poll_until, start_seeder, static_source, token_for
from wire.peer_session import Geometry
from wire.records import SeederInfo

PIECE = 16 * 1024


@dataclass
class FakeTimers:
    """``call_later`` for the limit, run by hand: ``fire`` runs what is due at the clock's time."""
    now: float = 0.0
    due: list[tuple[float, Wake, FakeTimer]] = field(default_factory=list)

    def clock(self) -> float:
        return self.now

    def call_later(self, delay: float, callback: Wake) -> FakeTimer:
        timer = FakeTimer()
        self.due.append((self.now + delay, callback, timer))
        return timer

    def next_at(self) -> float | None:
        live = [at for at, _, timer in self.due if not timer.cancelled]
        return min(live) if live else None

    def advance(self, to: float) -> None:
        self.now = to
        ready = [(at, cb, t) for at, cb, t in self.due if at <= to and not t.cancelled]
        self.due = [(at, cb, t) for at, cb, t in self.due if at > to and not t.cancelled]
        for _, callback, _ in sorted(ready, key=lambda item: item[0]):
            callback()


@dataclass
class FakeTimer:
    cancelled: bool = False

    def cancel(self) -> None:
        self.cancelled = True


def limit_at(rate: int | None) -> tuple[DownloadLimit, FakeTimers]:
    timers = FakeTimers()
    return DownloadLimit(rate, clock=timers.clock, call_later=timers.call_later), timers


def test_with_no_limit_every_request_may_go_and_nobody_waits() -> None:
    limit, timers = limit_at(None)
    for _ in range(100):
        assert limit.ready()
        limit.spend(2 << 20)
    assert limit.rate is None and timers.due == []


def test_a_piece_asked_for_holds_the_next_request_back_for_its_time_at_the_rate() -> None:
    limit, timers = limit_at(100_000)
    assert limit.ready()  # a fresh limit: the first piece goes at once, however large
    limit.spend(50_000)
    assert not limit.ready()
    timers.now = 0.3
    assert not limit.ready()
    timers.now = 0.5
    assert limit.ready()


def test_a_waiting_engine_is_woken_when_the_debt_is_paid_not_before() -> None:
    limit, timers = limit_at(100_000)
    limit.spend(50_000)
    woken: list[str] = []
    limit.wait(lambda: woken.append("a"))
    assert timers.next_at() == pytest.approx(0.5)
    timers.advance(0.49)
    assert woken == []
    timers.advance(0.5)
    assert woken == ["a"] and limit.waiting == 0


def test_waiting_engines_take_turns_in_the_order_they_came() -> None:
    """Each engine woken takes one piece's budget and queues again: the next wake goes to the one behind it."""
    limit, timers = limit_at(100_000)
    limit.spend(10_000)
    turns: list[str] = []

    def engine(name: str) -> Wake:
        def wake() -> None:
            if limit.ready():
                limit.spend(10_000)
                turns.append(name)
            limit.wait(wakes[name])  # always wants more
        return wake

    wakes = {name: engine(name) for name in "abc"}
    for name in "abc":
        limit.wait(wakes[name])
    limit.wait(wakes["a"])  # asking again keeps a's place, it does not jump the queue or take two
    while len(turns) < 9:
        at = timers.next_at()
        assert at is not None
        timers.advance(at)
    assert turns == list("abcabcabc")
    assert timers.now == pytest.approx(0.9)  # one piece each 0.1 s: the rate, whoever asks


def test_a_new_limit_wakes_the_waiting_at_once_and_none_lets_them_all_go() -> None:
    limit, timers = limit_at(1_000)
    limit.spend(1_000_000)  # a thousand seconds of debt at this rate
    woken: list[str] = []
    limit.wait(lambda: woken.append("a"))
    limit.wait(lambda: woken.append("b"))
    limit.set_rate(None)
    assert timers.next_at() == 0.0
    timers.advance(0.0)
    assert woken == ["a", "b"] and limit.rate is None and limit.ready()


def test_a_forgotten_engine_is_not_woken_and_no_timer_is_left_behind() -> None:
    limit, timers = limit_at(1_000)
    limit.spend(1_000)
    woken: list[str] = []

    def wake() -> None:
        woken.append("gone")

    limit.wait(wake)
    limit.forget(wake)
    assert limit.waiting == 0 and timers.next_at() is None
    timers.advance(5.0)
    assert woken == []


def test_a_refused_piece_gives_its_budget_back_up_to_a_burst() -> None:
    limit, timers = limit_at(100_000)
    limit.spend(50_000)
    limit.refund(50_000)  # the seeder refused it: it will not come
    assert limit.ready()
    limit.refund(10**9)  # never more than a burst's worth in hand
    limit.spend(int(100_000 * BURST_SECONDS) + 20_000)
    assert not limit.ready()
    timers.now = 0.2
    assert limit.ready()


def test_an_engine_woken_by_a_failing_callback_does_not_starve_the_others() -> None:
    limit, timers = limit_at(1_000)
    limit.spend(100)
    woken: list[str] = []

    def broken() -> None:
        raise RuntimeError("a bug")

    limit.wait(broken)
    limit.wait(lambda: woken.append("b"))
    timers.advance(1.0)
    assert woken == ["b"]


@given(rate=st.integers(1_000, 10**9), pieces=st.lists(st.integers(1, 4 << 20), min_size=1, max_size=60),
       gaps=st.lists(st.floats(0, 3), min_size=60, max_size=60))
def test_engines_that_request_only_when_ready_never_beat_the_rate_by_more_than_a_piece(
        rate: int, pieces: list[int], gaps: list[float]) -> None:
    """Whatever the piece sizes and pauses: bytes requested by any moment <= rate x time + one burst + one piece."""
    limit, timers = limit_at(rate)
    requested = 0
    woken: list[float] = []

    def wake() -> None:
        woken.append(timers.now)

    for piece, gap in zip(pieces, gaps, strict=False):
        timers.now += gap * piece / rate
        while not limit.ready():
            limit.wait(wake)
            at = timers.next_at()
            assert at is not None and at >= timers.now
            timers.advance(at)
            assert woken and woken[-1] == at  # woken when it may go, not polled
        limit.spend(piece)
        requested += piece
        assert requested <= rate * timers.now + rate * BURST_SECONDS + piece + 1e-6 * rate


def test_a_slow_limit_keeps_the_pipe_shallow_and_a_fast_one_does_not() -> None:
    piece = 2 << 20
    assert depth_for(1_000, 0.05, 0.25, piece, 16) == 2  # the least: one arriving, one asked
    assert depth_for(10**9, 0.05, 0.25, piece, 16) == 16
    assert depth_for(50_000_000, 0.0, 0.25, piece, 16) == 7  # 12.5 MB in a quarter second, plus one


class _NoHandler:
    def on_link_piece(self, *args: object) -> None: ...
    def on_link_reject(self, *args: object) -> None: ...
    def on_link_have(self, *args: object) -> None: ...
    def on_link_lost(self, *args: object) -> None: ...


def piece_job(length: int) -> PieceJob:
    """A piece of ``length`` bytes on a link never opened: what the gate's accounting looks at (made on the event
    loop, as a link is)."""
    link = PeerLink(SeederInfo("s", "127.0.0.1", 9, "", None), Geometry(1 << 20, length), _NoHandler(),
                    block_size=length)
    return PieceJob(0, length, memoryview(b""), link, 0.0)


async def test_the_gate_gives_back_only_what_it_charged_and_only_what_did_not_come() -> None:
    limit, timers = limit_at(1_000)
    gate = RequestGate(limit, lambda: None)
    charged, free = piece_job(600), piece_job(600)
    gate.charge(charged)
    charged.received = 200  # part of it came before its link was lost
    gate.give_back(charged)
    gate.give_back(free)  # asked for while there was no limit: never charged, nothing to give back
    assert (charged.charged, free.charged) == (True, False)
    assert not limit.ready()  # what came is still owed: 200 bytes, 0.2 s at the rate
    timers.now = 0.19
    assert not limit.ready()
    timers.now = 0.2
    assert limit.ready()


async def test_the_gate_says_held_while_the_engine_waits_and_calls_it_back() -> None:
    limit, timers = limit_at(1_000)
    calls: list[int] = []
    gate = RequestGate(limit, lambda: calls.append(1))
    states = [(gate.limited, gate.allows(), gate.held)]
    gate.charge(piece_job(1_000))
    states.append((gate.limited, gate.allows(), gate.held))
    timers.advance(1.0)
    states.append((gate.limited, gate.allows(), gate.held))
    assert states == [(True, True, False), (True, False, True), (True, True, False)]
    assert calls == [1]  # called back once, when the budget was there
    assert RequestGate(None, lambda: None).limited is False


# --- engines over sockets ----------------------------------------------------------------------------------------

async def test_two_downloads_share_one_limit_and_finish_whole_no_faster_than_it_allows(tmp_path: Path) -> None:
    """Two files from two seeders at once under one 400 kB/s limit: both are whole and right, and together they
    took at least about their bytes over the rate (time can only be longer on a slow machine: no flake)."""
    rate = 400_000
    limit = DownloadLimit(rate)
    runs, stores, metas, seeders = [], [], [], []
    try:
        for n in range(2):
            data = make_file(tmp_path / f"src{n}.bin", 40 * PIECE + 123 * n, seed=n + 3)
            meta = meta_of(f"src{n}.bin", data, PIECE)
            seeders.append(await start_seeder(f"seed{n}", [PieceStore.open_complete(tmp_path / f"src{n}.bin", meta)]))
            stores.append(PieceStore.open_partial(tmp_path / f"dl{n}.part", tmp_path / f"dl{n}.state", meta))
            metas.append(meta)
        t0 = time.monotonic()
        for meta, store, seeder in zip(metas, stores, seeders, strict=True):
            engine = DownloadEngine(meta, store, static_source(token_for(meta.sha256), [seeder.info()]),
                                    config=EngineConfig(no_peer_timeout=5.0, retry_delay=0.1),
                                    download_limit=limit)
            runs.append(asyncio.create_task(engine.run()))
        await asyncio.wait_for(asyncio.gather(*runs), 120)
        elapsed = time.monotonic() - t0
        total = sum(meta.size for meta in metas)
        for n, (meta, store) in enumerate(zip(metas, stores, strict=True)):
            assert file_sha256(await store.finish(tmp_path / f"out{n}.bin")) == meta.sha256
        assert elapsed >= total / rate * 0.8, (elapsed, total / rate)
        assert sum(s.server.bytes_sent_total for s in seeders) == total  # nothing fetched twice
        assert limit.waiting == 0  # the engines left the queue as they ended
    finally:
        for run in runs:
            run.cancel()
        for store in stores:
            store.close()
        for seeder in seeders:
            await seeder.close()
        limit.close()


async def test_a_limit_slower_than_the_stall_timeouts_never_fails_the_download(tmp_path: Path) -> None:
    """One piece every 1.2 s while the engine gives up on a silent peer after 0.5 s and drops a link whose request
    waits 0.5 s: the limit holds requests back (none waits at the peer), so nothing looks stalled."""
    data = make_file(tmp_path / "src.bin", 4 * PIECE)
    meta = meta_of("src.bin", data, PIECE)
    seeder = await start_seeder("seed", [PieceStore.open_complete(tmp_path / "src.bin", meta)])
    store = PieceStore.open_partial(tmp_path / "dl.part", tmp_path / "dl.state", meta)
    limit = DownloadLimit(PIECE * 5 // 6)  # 1.2 s a piece
    config = EngineConfig(no_peer_timeout=0.5, request_timeout=0.5, refresh_interval=0.2)
    try:
        engine = DownloadEngine(meta, store, static_source(token_for(meta.sha256), [seeder.info()]), config=config,
                                download_limit=limit)
        t0 = time.monotonic()
        await asyncio.wait_for(engine.run(), 60)
        assert time.monotonic() - t0 >= 3 * 1.2 * 0.8  # the first piece is free, each of the others waited
        assert file_sha256(await store.finish(tmp_path / "out.bin")) == meta.sha256
        assert engine.requests_sent == meta.piece_count  # one link all along: never dropped and asked again
    finally:
        store.close()
        await seeder.close()
        limit.close()


async def test_lifting_the_limit_frees_a_download_that_waits_on_it(tmp_path: Path) -> None:
    """At 1 kB/s the second 16 KiB piece would wait 16 s: the first comes, nothing more is asked for, and lifting
    the limit lets the rest be asked for at once."""
    data = make_file(tmp_path / "src.bin", 8 * PIECE)
    meta = meta_of("src.bin", data, PIECE)
    seeder = await start_seeder("seed", [PieceStore.open_complete(tmp_path / "src.bin", meta)])
    store = PieceStore.open_partial(tmp_path / "dl.part", tmp_path / "dl.state", meta)
    limit = DownloadLimit(1_000)
    engine = DownloadEngine(meta, store, static_source(token_for(meta.sha256), [seeder.info()]),
                            config=EngineConfig(no_peer_timeout=5.0), download_limit=limit)
    run = asyncio.create_task(engine.run())
    try:
        await asyncio.wait_for(poll_until(lambda: store.bytes_verified == PIECE and limit.waiting == 1), 30)
        assert engine.requests_sent == 1 and seeder.server.bytes_sent_total == PIECE and not run.done()
        limit.set_rate(None)
        await asyncio.wait_for(run, 30)
        assert file_sha256(await store.finish(tmp_path / "out.bin")) == meta.sha256
    finally:
        run.cancel()
        store.close()
        await seeder.close()
        limit.close()


async def test_a_seeder_closing_the_link_idle_between_limited_requests_does_not_fail_the_download(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """At a limit where the next request comes after the seeder's idle timeout, the seeder closes the link between
    pieces: the engine opens it again when the budget is there, and the wait still never counts as no peer."""
    data = make_file(tmp_path / "src.bin", 3 * PIECE)
    meta = meta_of("src.bin", data, PIECE)
    seeder = await start_seeder("seed", [PieceStore.open_complete(tmp_path / "src.bin", meta)],
                                limits=ServerLimits(idle_timeout=0.3, handshake_timeout=2.0))
    store = PieceStore.open_partial(tmp_path / "dl.part", tmp_path / "dl.state", meta)
    # 2.5 s a piece: idle past 0.3 s, the link is closed at the seeder's first check (2 s after it opened)
    limit = DownloadLimit(PIECE * 2 // 5)
    config = EngineConfig(no_peer_timeout=1.0, retry_delay=0.1, max_retry_delay=0.2, refresh_interval=0.2)
    caplog.set_level(logging.DEBUG, logger="peer_node.swarm.engine")
    try:
        engine = DownloadEngine(meta, store, static_source(token_for(meta.sha256), [seeder.info()]), config=config,
                                download_limit=limit)
        await asyncio.wait_for(engine.run(), 60)
        assert file_sha256(await store.finish(tmp_path / "out.bin")) == meta.sha256
        lost = [r.getMessage() for r in caplog.records if "retry in" in r.getMessage()]
        assert any("closed an idle connection" in m for m in lost), lost  # the case this test is about happened
    finally:
        store.close()
        await seeder.close()
        limit.close()


class RecordedLimit(DownloadLimit):
    """A download limit that keeps what it was given back."""

    def __init__(self, rate: int | None) -> None:
        super().__init__(rate)
        self.refunded: list[int] = []

    def refund(self, nbytes: int) -> None:
        self.refunded.append(nbytes)
        super().refund(nbytes)


async def test_the_unreceived_rest_of_pieces_on_a_lost_link_is_given_back_to_the_limit(tmp_path: Path) -> None:
    """A seeder stopped while its pieces trickle in (its uploads held to 4 kB/s): what was asked of it and not yet
    received is refunded, or the pieces asked for again elsewhere would be paid for twice."""
    data = make_file(tmp_path / "src.bin", 8 * PIECE)
    meta = meta_of("src.bin", data, PIECE)
    seeder = await start_seeder("seed", [PieceStore.open_complete(tmp_path / "src.bin", meta)], upload_limit=4_000)
    store = PieceStore.open_partial(tmp_path / "dl.part", tmp_path / "dl.state", meta)
    limit = RecordedLimit(10_000_000)  # never holds a request back here: only the accounting is looked at
    engine = DownloadEngine(meta, store, static_source(token_for(meta.sha256), [seeder.info()]),
                            config=EngineConfig(no_peer_timeout=30.0, block_size=PIECE // 4), download_limit=limit)
    run = asyncio.create_task(engine.run())
    try:
        await asyncio.wait_for(poll_until(lambda: seeder.server.bytes_sent_total >= PIECE // 2), 30)
        await seeder.close()  # the link is lost with pieces in flight, some of them in part
        await asyncio.wait_for(poll_until(lambda: bool(limit.refunded)), 10)
        asked, sent, verified = engine.requests_sent * PIECE, seeder.server.bytes_sent_total, store.bytes_verified
        assert verified < asked
        # What never left the seeder at least; at most what did not make a whole piece (a block sent as it closed
        # may not have arrived: those bytes are given back too).
        assert asked - sent <= sum(limit.refunded) <= asked - verified, (asked, sent, verified, limit.refunded)
    finally:
        run.cancel()
        store.close()
        await seeder.close()
        limit.close()


async def test_pieces_asked_for_with_no_limit_give_nothing_back_to_a_limit_set_later(tmp_path: Path) -> None:
    """Every piece asked for while there was no limit, none of it charged; a limit set while they trickle in (the
    seeder's uploads held to 4 kB/s); then one refused and the rest lost with the link: nothing is refunded, or
    the new limit would get bytes it never spent and forgive the debt of pieces asked for under it."""
    data = make_file(tmp_path / "src.bin", 8 * PIECE)
    meta = meta_of("src.bin", data, PIECE)
    seeder = await start_seeder("seed", [PieceStore.open_complete(tmp_path / "src.bin", meta)], upload_limit=4_000)
    store = PieceStore.open_partial(tmp_path / "dl.part", tmp_path / "dl.state", meta)
    limit = RecordedLimit(None)
    engine = DownloadEngine(meta, store, static_source(token_for(meta.sha256), [seeder.info()]),
                            config=EngineConfig(no_peer_timeout=30.0, block_size=PIECE // 4), download_limit=limit)
    run = asyncio.create_task(engine.run())
    try:
        # All 8 asked for at once (the one link's depth holds them): none is asked for under the limit below.
        await asyncio.wait_for(poll_until(lambda: engine.requests_sent == 8 and len(engine.roster.links()) == 1), 30)
        limit.set_rate(10_000_000)
        link = engine.roster.links()[0]
        refused = next(iter(link.jobs.values()))
        link.cancel(refused)  # as a REJECT from the seeder has the link do (peer_link._on_message)
        engine.on_link_reject(link, refused)
        in_flight = len(link.jobs)
        await seeder.close()  # the link is lost with the rest in flight
        await asyncio.wait_for(poll_until(lambda: not engine.roster.links()), 10)
        assert in_flight > 0 and store.bytes_verified < 8 * PIECE
        assert limit.refunded == []
    finally:
        run.cancel()
        store.close()
        await seeder.close()
        limit.close()
