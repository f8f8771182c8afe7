"""One download: many peers in parallel, every piece verified, bounded memory, no hanging.

Theory of operation: the engine asks ``swarm_source`` (the node's tracker client) for a token and the peers holding
the file, at start, every ``refresh_interval`` and sooner while a crowd downloads or a seeder refuses a piece none
of our links has (``lookup``), so peers that join later are used. It keeps up to ``max_peers`` ``PeerLink``s (whom
to try and when: ``roster``). Work is driven by callbacks, not by a task per peer: whenever a link has room (fewer
pieces in flight than its ``depth``) and a piece buffer is free, the pure ``PiecePicker`` names a piece (rarest
first, the lowest-numbered among equals: the file fills front to back) and the link requests all its blocks. When a
piece's last byte lands in its buffer the link calls back; the check against the SHA-256 chain and the write run in
the verify threads (``workers``; the SHA-256 and the write release the GIL), and the link is refilled at once so the
pipe never drains while hashing. The chain ends in the whole file's SHA-256, so once every piece passed the file is
verified: nothing is hashed again or read back. A good piece is marked in the store (served at once to other peers,
saved for resuming) and reported through ``on_piece``; a bad one gives its sender a strike (dropped for this
download after ``max_piece_failures_per_peer``) and goes back to the picker. A lost link gives back only its
in-flight pieces and is retried later with backoff. Each link's depth follows its measured speed (enough bytes in
flight to cover its round trip, measured at the handshake, plus ``latency_target`` seconds: ``peer_link.depth_for``).
Memory is bounded by the buffer pool: ``buffer_budget`` bytes of piece buffers, reused, each out only while its
piece is received, verified and written (``buffers.receive_buffers``).
While a peer is connected to fetch from us, a verified piece stays in its buffer until the pool needs it, and the
piece server sends it from there (``store.serve_from``). With no usable peer for ``no_peer_timeout`` seconds the
download fails rather than hangs. Pieces are requested as the node's download limit allows (``download_limit``).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from peer_node.swarm.buffers import BufferPool, receive_buffers
from peer_node.swarm.config import EngineConfig, EngineProgress, SwarmSnapshot
from peer_node.swarm.crowd import SeedRefusals
from peer_node.swarm.download_limit import DownloadLimit, RequestGate
from peer_node.swarm.errors import CorruptSources, DownloadFailed
from peer_node.swarm.link_watch import look_at_link
from peer_node.swarm.lookup import HolderLookup
from peer_node.swarm.partial_watch import PartialWatch
from peer_node.swarm.peer_link import LinkClosed, PeerLink, PieceJob
from peer_node.swarm.picker import PiecePicker
from peer_node.swarm.piece_mask import pieces_we_lack
from peer_node.swarm.rate_meter import RateMeter
from peer_node.swarm.reasons import plain_reason, stuck_reason
from peer_node.swarm.roster import Peer, Roster
from peer_node.swarm.store import PieceStore
from peer_node.swarm.tls import NodeIdentity
from peer_node.swarm.workers import hash_workers
from wire.errors import GroupShareError
from wire.peer_protocol import ProtocolError
from wire.peer_session import Geometry
from wire.pieces import piece_length
from wire.records import FileMeta

__all__ = ["DownloadEngine", "EngineConfig", "EngineProgress", "SwarmSnapshot"]  # the types live in .config

log = logging.getLogger(__name__)

class DownloadEngine:
    def __init__(self, meta: FileMeta, store: PieceStore, swarm_source: Callable[[], Awaitable[SwarmSnapshot]], *,
                 on_piece: Callable[[int], None] | None = None, config: EngineConfig | None = None,
                 tls: NodeIdentity | None = None, rng: random.Random | None = None,
                 download_limit: DownloadLimit | None = None) -> None:
        self.meta, self.store = meta, store
        self._partial = PartialWatch(store)
        self.on_piece = on_piece
        self.config = config or EngineConfig()
        self.tls = tls
        self.rng = rng or random.Random()
        self.geometry = Geometry(meta.size, meta.piece_size)
        self.picker = PiecePicker(meta.piece_count, (i for i in range(meta.piece_count) if store.has(i)),
                                  rng=self.rng, window=self.config.pick_window)
        self.bytes_by_peer: dict[str, int] = {}
        self.piece_source: dict[int, str] = {}  # piece -> user id that gave it (the UI's piece map colours it)
        self.requests_sent = 0  # piece requests made, duplicates included
        self.requested: set[int] = set()  # pieces ever requested by this engine
        self.hash_failures = 0  # pieces that arrived whole and failed their SHA-256
        self.roster = Roster(self.config, self.rng)
        self._refusals: dict[PeerLink, SeedRefusals] = {}  # crowd spreading: what a seeder refused lately
        self.lookup = HolderLookup(swarm_source, self.roster, self.config, meta.file_name)
        self._tasks: set[asyncio.Task[None]] = set()
        self._verifying = 0  # pieces in the writer threads
        self._drained = asyncio.Event()
        # Verified pieces stay in their buffers for the piece server only while some peer may ask for them.
        self.buffers = BufferPool(meta.piece_size, receive_buffers(self.config.buffer_budget, meta.piece_size),
                                  lambda: store.watched)
        self._rate = RateMeter()  # of bytes received so far
        self._received = 0
        self._last_bytes: dict[PeerLink, int] = {}
        self._result: asyncio.Future[None] | None = None
        self._last_useful = self._last_tick = time.monotonic()
        self._gate = RequestGate(download_limit, self._fill_all)  # the node's download limit, shared

    # --- the run --------------------------------------------------------------------------------------------
    async def run(self) -> None:
        """Return once every piece is verified and written; raise DownloadFailed when hopeless."""
        if self.picker.complete:
            return
        self._result = result = asyncio.get_running_loop().create_future()
        cfg = self.config
        tick = max(0.05, min(0.5, cfg.no_peer_timeout / 4))
        self._last_useful = self._last_tick = started = time.monotonic()
        self.store.serve_from(self.buffers.cached)  # verified pieces still in a buffer go out from memory
        try:
            await self.lookup.refresh()
            while not result.done():
                now = time.monotonic()
                if self.lookup.due(now, self.lookup.swarming or now - started < cfg.warmup or not self._links()):
                    await self.lookup.refresh()
                if self.picker.done_count == self.picker.count:  # belt and braces: _on_verified sets it
                    if not result.done():  # _on_verified may have set it while the lookup awaited
                        result.set_result(None)
                    break
                self._tick(time.monotonic())
                self._connect_more()
                if not result.done():
                    await asyncio.wait([result], timeout=tick)
            result.result()
            trouble = self._partial.trouble(0.0)  # cut short after the last tick (the path: move_into_place's)
            if trouble is not None:
                raise trouble
        finally:
            await self._shutdown()

    def progress(self) -> EngineProgress:
        return EngineProgress(self.store.bytes_verified, self.meta.size, dict(self.bytes_by_peer),
                              tuple(sorted({link.user_id for link in self._links()})), self._rate.rate(),
                              self.picker.states(), dict(self.piece_source))

    @property
    def dropped_peers(self) -> tuple[str, ...]:
        """Addresses dropped for this download after sending corrupt pieces."""
        return tuple(peer.info.addr for peer in self.roster.banned())

    def _fail(self, reason: str, kind: type[DownloadFailed] = DownloadFailed) -> None:
        self._fail_with(kind(reason))

    def _fail_with(self, exc: Exception) -> None:
        if self._result is not None and not self._result.done():
            self._result.set_exception(exc)

    def _links(self) -> list[PeerLink]:
        return self.roster.links()

    # --- peers ----------------------------------------------------------------------------------------------
    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        if self._result is None or self._result.done():  # over, or shutting down: nothing new may start
            coro.close()
            return
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _connect_more(self) -> None:
        if not self.lookup.token or self._result is None or self._result.done():
            return
        for peer in self.roster.to_connect(time.monotonic(), lambda info: pieces_we_lack(info.pieces, self.store.mask,
                                                                                          self.meta.piece_count)):
            peer.connecting = True
            self._spawn(self._connect(peer))

    async def _connect(self, peer: Peer) -> None:
        try:
            async with asyncio.timeout(self.config.connect_timeout):
                link = await PeerLink.open(peer.info, self.geometry, self, file_sha256=self.meta.sha256,
                                           token=self.lookup.token, block_size=self.config.block_size, tls=self.tls)
        except (OSError, LinkClosed, TimeoutError, ProtocolError) as exc:
            self._backoff(peer, plain_reason(exc))
            log.debug("peer %s: %r", peer.info.addr, exc)
            return
        finally:
            peer.connecting = False
        if self._result is None or self._result.done():
            link.close("download over")
            return
        link.set_depth_limits(self.meta.piece_size, self.config.max_depth)
        peer.link, peer.seed = link, link.is_seed
        self._last_bytes[link] = 0
        self.picker.add_peer(None if peer.seed else link.mask)
        self._last_useful = link.connected_at = time.monotonic()
        self._fill(link)

    def _backoff(self, peer: Peer, reason: str) -> None:
        delay = self.roster.backoff(peer, reason, time.monotonic())
        log.debug("peer %s: %s (retry in %.1fs)", peer.info.addr, reason, delay)

    # --- periodic checks ------------------------------------------------------------------------------------
    def _tick(self, now: float) -> None:
        # Far cheaper than fetching the whole file into nothing, or than finishing a file whose verified pieces
        # another program cut away (no second hashing pass would see it otherwise).
        trouble = self._partial.trouble(now)
        if trouble is not None:
            self._fail_with(trouble)
            return
        cfg = self.config
        dt = max(1e-3, now - self._last_tick)
        self._last_tick = now
        useful = False
        for link in self._links():
            got = link.bytes_received - self._last_bytes.get(link, 0)
            self._last_bytes[link] = link.bytes_received
            self._received += got
            quiet_for = look_at_link(link, got, now, dt, cfg, self.meta.piece_size, self._gate)
            if quiet_for is None:  # closed as stalled
                continue
            # Useful: holds pieces we lack and has delivered lately (or is new). A peer that accepts and then
            # never answers must not keep the download waiting forever.
            lively = quiet_for <= cfg.no_peer_timeout
            if lively and (self.roster.is_seed(link) or link.mask & ~self.store.mask):  # masks: it has, we lack
                useful = True
        # The speed shown is of bytes received, not verified: from a slow peer every piece in flight fills at once
        # and none is whole for many seconds, which read as "0 B/s" while data was flowing.
        self._rate.add(now, self._received)
        if useful or self._gate.held:  # held by the download limit: waiting on the user, not on peers
            self._last_useful = now
        elif self.lookup.unlisted or now - self._last_useful > self.config.no_peer_timeout:
            # unlisted: no need to wait out the timeout, nobody is going to offer the rest
            banned = self.roster.banned()
            why, corrupt = stuck_reason(self.meta.file_name, unlisted=self.lookup.unlisted,
                                        all_banned=bool(banned) and len(banned) == len(self.roster.peers),
                                        errors=self.roster.last_errors())
            self._fail(why, CorruptSources if corrupt else DownloadFailed)
        self._fill_all()

    # --- requesting -----------------------------------------------------------------------------------------
    def _fill_all(self, *, lazy: bool = False) -> None:
        for link in sorted(self._links(), key=lambda link: -link.rate):
            self._fill(link, lazy=lazy)

    def _fill(self, link: PeerLink, *, lazy: bool = False) -> None:
        """Top ``link`` up to its depth; ``lazy``: only once it is low enough (``PeerLink.refill_due``)."""
        if link.closed or self._result is None or self._result.done():
            return
        if lazy and not link.refill_due():
            return
        seed = self.roster.is_seed(link)
        # Crowd spreading (server.py, crowd.py): pieces this seeder refused a moment ago go to partial holders.
        now, refusals = time.monotonic(), self._refusals.get(link)
        mask = (refusals.allows(now) if refusals is not None else None) if seed else link.mask
        # While other downloaders serve us, a whole-file seeder is asked only for pieces no one else holds:
        # its upload goes to what only it can give (a flash crowd then leans on itself, not on the sharer).
        max_availability = self.roster.seed_links() if seed and self.roster.partials_serving(now) else None
        limited = self._gate.limited  # once a refill: nothing per piece or block when there is no limit
        try:
            while link.in_flight < link.depth:
                if limited and not self._gate.allows():
                    return
                buf = self.buffers.take()  # None: every buffer is receiving or being written
                if buf is None:
                    return
                index = self.picker.pick(mask, link.jobs.keys(), max_availability)
                if (index is None and max_availability is not None and not link.jobs
                        and not (refusals is not None and refusals.active(now))):  # it would refuse those
                    index = self.picker.pick(mask, link.jobs.keys())  # never idle: one common piece at a time
                if index is None:
                    self.buffers.give(buf)
                    return
                job = PieceJob(index, piece_length(index, self.meta.size, self.meta.piece_size), buf, link,
                               time.monotonic())
                try:
                    link.request(job)
                except ProtocolError:  # the session's outstanding cap: wait for answers
                    self.picker.abandoned(index)
                    self.buffers.give(buf)
                    return
                if limited:
                    self._gate.charge(job)
                self.requests_sent += 1
                self.requested.add(index)
        finally:
            link.flush()

    # --- link callbacks (LinkHandler) -----------------------------------------------------------------------
    def on_link_piece(self, link: PeerLink, job: PieceJob) -> None:
        try:
            self.store.acquire()
        except GroupShareError:
            self.buffers.give(job.buffer)
            self._fail("download stopped: the file store was closed")
            return
        self.picker.arrived_whole(job.index)
        self._verifying += 1
        hash_workers().submit(asyncio.get_running_loop(), self.store.verify_and_write, (job.index, job.view),
                              lambda written, error: self._on_verified(job, written, error))
        self._fill(link, lazy=True)

    def _on_verified(self, job: PieceJob, written: bool | None, error: BaseException | None) -> None:
        self._verifying -= 1
        if self._verifying == 0:
            self._drained.set()
        self.store.release()
        # The buffer is free again; a good piece stays in it for the piece server (``BufferPool.cached``).
        self.buffers.give(job.buffer, job.index if written else None)
        if isinstance(error, OSError):  # the disk refused (full, gone read-only): not a missing seeder
            self._fail_with(error)  # download_failures words it and keeps the pieces for a Retry
            return
        if error is not None or written is None:
            self._fail(f"cannot write the file: {error}")
            return
        peer = self.roster.get(job.link.addr)
        if written:
            if self._piece_verified(job, peer):
                return  # the download is complete: nothing more to ask for
        else:
            self._piece_corrupt(job, peer)
        self._fill_all(lazy=True)

    def _piece_verified(self, job: PieceJob, peer: Peer | None) -> bool:
        """Record a good piece: credit its giver, cancel its duplicates, tell the node. True once complete."""
        index, link = job.index, job.link
        first = not self.store.has(index)
        self.store.mark_verified(index)
        self.picker.completed(index)
        for other in self._links():
            duplicate = other.jobs.get(index)
            if duplicate is not None and other is not link:
                other.cancel(duplicate)
                self.buffers.give(duplicate.buffer)
        if peer is not None:
            peer.failures = 0
        if first:
            self.bytes_by_peer[link.user_id] = self.bytes_by_peer.get(link.user_id, 0) + job.length
            self.piece_source[index] = link.user_id
        if self.picker.complete and self._result is not None and not self._result.done():
            self._result.set_result(None)
        if first and self.on_piece is not None:
            try:
                self.on_piece(index)
            except Exception:  # the node's callback: its bug must not stall the download
                log.exception("on_piece callback failed for piece %d", index)
        return self.picker.complete

    def _piece_corrupt(self, job: PieceJob, peer: Peer | None) -> None:
        """A piece failed its hash: fetch it again, and strike (in the end ban) the peer that sent it."""
        self.hash_failures += 1
        self.picker.abandoned(job.index)
        if peer is not None:
            peer.strikes += 1
            log.warning("piece %d from %s failed its hash (strike %d)", job.index, job.link.addr, peer.strikes)
            if peer.strikes >= self.config.max_piece_failures_per_peer:
                peer.banned = True
                job.link.close("sent corrupt pieces")

    def on_link_reject(self, link: PeerLink, job: PieceJob) -> None:
        self._gate.give_back(job)  # it will not come
        self.picker.abandoned(job.index)
        self.buffers.give(job.buffer)
        if self.roster.is_seed(link):
            # Crowd spreading (server.py, crowd.py): the seeder gave this piece to another downloader, who will
            # announce it; this seeder is asked for it again only after a hold (and then serves it).
            self._refusals.setdefault(link, SeedRefusals(self.meta.piece_count)).refused(job.index, time.monotonic())
            if self.picker.availability[job.index] <= self.roster.seed_links():
                self.lookup.soon(self._spawn, self._connect_more)  # whoever was given it is new to us: find them
            self._fill_all()
            return
        if link.forget(job.index):
            self.picker.peer_lost(job.index)
        self._fill_all()

    def on_link_have(self, link: PeerLink, index: int) -> None:
        peer = self.roster.get(link.addr)
        if peer is None or peer.link is not link:
            return  # a HAVE during the handshake: already in the mask that ``_connect`` counts once registered
        self.picker.peer_got(index)
        self._fill(link, lazy=True)  # news for an idle link; one with requests out is topped up as they land

    def on_link_lost(self, link: PeerLink, reason: str) -> None:
        peer = self.roster.get(link.addr)
        for job in list(link.jobs.values()):
            self._gate.give_back(job)  # the rest will not come: it is asked for again elsewhere
            self.picker.abandoned(job.index)
            self.buffers.give(job.buffer)
        link.jobs.clear()
        self._last_bytes.pop(link, None)
        self._refusals.pop(link, None)
        if peer is not None and peer.link is link:
            self.picker.remove_peer(None if peer.seed else link.mask)
            peer.link = None
            if not peer.banned:
                self._backoff(peer, plain_reason(reason))
        self._fill_all()

    # --- shutdown -------------------------------------------------------------------------------------------
    async def _shutdown(self) -> None:
        self.store.serve_from(None)  # the pool goes with this engine
        self._gate.close()
        try:
            for task in list(self._tasks):
                task.cancel()
            if self._tasks:
                await asyncio.gather(*self._tasks, return_exceptions=True)
            for link in self._links():
                link.close("download over")
            # Writer threads must finish before the caller may close the store under them.
            while self._verifying:
                self._drained.clear()
                await self._drained.wait()
        finally:
            self.buffers.close()  # now, not when the collector breaks the engine's cycles (buffers.free_buffer)
