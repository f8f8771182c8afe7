"""One downloader-side connection to a peer: handshake, requests, and a zero-copy receive path.

Theory of operation: ``PeerLink`` is an ``asyncio.BufferedProtocol``. Its ``get_buffer`` hands the transport the
memory ``wire.frame_receiver.FrameReceiver`` asks for: small scratch memory for frame headers, and for a PIECE
body the exact slice of the piece buffer the block belongs to, so the kernel's ``recv_into`` writes the bytes
where they will be hashed and written from. A block that was cancelled in the meantime lands in a discard buffer.
Under TLS a ``secure_channel.ClientChannel`` sits in front of the link: it receives sealed records and opens
each one straight into the memory the link offers, so a block is still written once, by the AEAD
(``wire.bulk_records``).
The link knows nothing of picking or verifying: it reports to its ``LinkHandler`` (the engine) when a whole
piece has arrived, when a request was rejected, when the peer announced a piece, and when the link died.
"""

from __future__ import annotations

import asyncio
import math
import ssl
from dataclasses import dataclass, field
from typing import Protocol

from peer_node.swarm import secure_channel
from peer_node.swarm.piece_mask import bitfield_mask, full_mask
from peer_node.swarm.tls import NodeIdentity, channel_binding, client_context, server_fingerprint
from wire.frame_receiver import FrameReceiver
from wire.peer_protocol import (
    FROM_SERVER,
    MAX_BLOCK,
    MAX_REQUESTS_IN_FLIGHT,
    Bitfield,
    Goodbye,
    Handshake,
    Have,
    PieceReceived,
    ProtocolError,
    Reject,
)
from wire.peer_session import BlockKey, Geometry, PeerSession, Role, State
from wire.records import SeederInfo


@dataclass(eq=False)
class PieceJob:
    """One piece being fetched from one link into one buffer."""

    index: int
    length: int
    buffer: memoryview  # page-aligned (BufferPool)
    link: PeerLink
    started_at: float
    blocks_left: int = 0
    keys: list[BlockKey] = field(default_factory=list)
    received: int = 0  # bytes of it come so far (a lost link's rest is refunded to the download limit)
    # Its length was charged to the download limit when it was asked for: only then is any of it refunded. A piece
    # asked for with no limit and refused or lost after a limit was set would give the new limit bytes it never
    # spent, and so forgive the debt of pieces asked for under it.
    charged: bool = False

    @property
    def view(self) -> memoryview:
        return self.buffer[:self.length]


def depth_for(rate: float, rtt: float, latency_target: float, piece_size: int, max_depth: int) -> int:
    """Pieces to keep in flight on a link that delivered ``rate`` bytes/s: its bandwidth-delay product (``rtt``
    seconds of ``rate``: what is on the way) plus ``latency_target`` seconds of ``rate`` queued at the peer, plus
    the piece being filled; at least 2, at most ``max_depth``.

    The round trip must count. With ``latency_target`` alone, a link whose round trip is longer than it
    delivers only what its depth lets through (depth * piece / rtt), so it asked for depth * target / rtt + 1
    next: a fixed point of about 1 / (1 - target / rtt) pieces, whatever the link could carry (6 pieces at
    300 ms, 42 MB/s of a 125 MB/s link). With the round trip counted, a link held back by its depth asks for
    depth * (rtt + target) / rtt + 1, more than it has, until the link's capacity (or ``max_depth``) holds it;
    on loopback (rtt ~0.1 ms) the depth is what ``latency_target`` alone gave."""
    want = math.ceil(rate * (rtt + latency_target) / piece_size) + 1
    return max(1, min(max_depth, max(2, want)))


class LinkHandler(Protocol):
    def on_link_piece(self, link: PeerLink, job: PieceJob) -> None: ...
    def on_link_reject(self, link: PeerLink, job: PieceJob) -> None: ...
    def on_link_have(self, link: PeerLink, index: int) -> None: ...
    def on_link_lost(self, link: PeerLink, reason: str) -> None: ...


_CLIENT_CONTEXT: list[ssl.SSLContext] = []


def _client_context() -> ssl.SSLContext:
    if not _CLIENT_CONTEXT:  # one context for every link of the process (contexts are costly to make)
        _CLIENT_CONTEXT.append(client_context())
    return _CLIENT_CONTEXT[0]


class LinkClosed(Exception):
    """The peer refused us or went away before the handshake finished (``str`` says why)."""


class PeerLink(asyncio.BufferedProtocol):
    def __init__(self, seeder: SeederInfo, geometry: Geometry, handler: LinkHandler, *, block_size: int,
                 max_outstanding: int = MAX_REQUESTS_IN_FLIGHT) -> None:
        self.seeder = seeder
        self.geometry = geometry
        self.handler = handler
        self.block_size = min(block_size, MAX_BLOCK)
        self.session = PeerSession(Role.CLIENT, max_outstanding=max_outstanding)
        self.receiver = FrameReceiver(self._sink, accept=FROM_SERVER)
        self.transport: asyncio.Transport | None = None
        self.mask = 0  # the peer's pieces (bit i = piece i; piece_mask), from its BITFIELD and HAVEs
        self.jobs: dict[int, PieceJob] = {}  # piece index -> job on this link
        self._blocks: dict[BlockKey, PieceJob] = {}
        self._discard: bytearray | None = None
        self._pending: list[bytes] = []  # request frames not yet written
        self.ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.closed = False
        self.close_reason = ""
        self.bytes_received = 0  # verified-or-not piece bytes, for speed and depth
        self.depth = 2  # pieces in flight allowed; the engine adapts it
        self.max_depth = 2  # what the request cap allows for this file's pieces (set by the engine)
        self.rate = 0.0  # bytes/s, smoothed by the engine
        self.rtt = 0.0  # seconds: the handshake's round trip (``open``), what a request waits before any answer
        self.pipe = 0  # pieces one round trip of ``rate`` takes, plus the one arriving (``measure``)
        self.connected_at = 0.0  # monotonic, set by the engine
        self.last_data_at = 0.0  # monotonic time piece bytes last arrived, kept by the engine

    @property
    def user_id(self) -> str:
        return self.seeder.user_id

    @property
    def addr(self) -> str:
        return self.seeder.addr

    def has(self, index: int) -> bool:
        return bool(self.mask >> index & 1)

    @property
    def is_seed(self) -> bool:
        """Its BITFIELD (and HAVEs since) cover the whole file; meaningful once ``open`` returned."""
        return self.mask == full_mask(self.geometry.count)

    def forget(self, index: int) -> bool:
        """The peer turned out not to have ``index`` (it rejected our request): True if we thought it had."""
        had = self.has(index)
        self.mask &= ~(1 << index)
        return had

    # --- connecting ------------------------------------------------------------------------------------------
    @classmethod
    async def open(cls, seeder: SeederInfo, geometry: Geometry, handler: LinkHandler, *, file_sha256: str,
                   token: str, block_size: int, tls: NodeIdentity | None = None) -> PeerLink:
        """Connect, handshake and wait for the peer's BITFIELD; LinkClosed or OSError on failure. Under TLS the
        seeder's certificate must match the fingerprint the tracker listed. The caller bounds the time."""
        loop = asyncio.get_running_loop()
        if tls is None:
            _, link = await loop.create_connection(
                lambda: cls(seeder, geometry, handler, block_size=block_size), seeder.host, seeder.port)
        else:  # TLS opens the connection, sealed records carry it (see secure_channel)
            link = cls(seeder, geometry, handler, block_size=block_size)
            await secure_channel.connect(seeder.host, seeder.port, _client_context(), link)
        assert link.transport is not None
        cert = proof = b""
        if tls is not None:
            if not seeder.fingerprint or server_fingerprint(link.transport) != seeder.fingerprint:
                link.close("seeder certificate does not match its listed fingerprint")
                raise LinkClosed(link.close_reason)
            cert, proof = tls.cert_der, tls.prove(channel_binding(link.transport))
        sent_at = loop.time()
        link.transport.write(link.session.start(
            Handshake(bytes.fromhex(file_sha256), token.encode("ascii"), cert=cert, proof=proof), geometry))
        try:
            await asyncio.shield(link.ready)
        except BaseException:
            link.close("handshake did not finish")
            raise
        link.rtt = loop.time() - sent_at  # HANDSHAKE out, BITFIELD back: one round trip (and a token check)
        return link

    # --- asyncio callbacks ----------------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def get_buffer(self, sizehint: int) -> memoryview:
        return self.receiver.get_buffer()

    def buffer_updated(self, nbytes: int) -> None:
        if self.closed:
            return
        try:
            events = self.receiver.buffer_updated(nbytes)
            for event in events:
                if isinstance(event, PieceReceived):
                    self._on_block(event)
                else:
                    self._on_message(event)
                if self.gone():
                    return
        except ProtocolError as exc:
            self.close(f"protocol error: {exc.message}")

    def eof_received(self) -> bool | None:
        self.close(self.close_reason or "peer closed the connection")
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self.close(self.close_reason or (f"connection lost: {exc}" if exc else "peer closed the connection"))

    # --- receiving ------------------------------------------------------------------------------------------
    def _sink(self, index: int, begin: int, length: int) -> memoryview:
        cancelled = self.session.block_status(index, begin, length)
        job = None if cancelled else self._blocks.get((index, begin, length))
        if job is None:
            return self._discard_view(length)
        return job.view[begin:begin + length]

    def _discard_view(self, length: int) -> memoryview:
        if self._discard is None:
            self._discard = bytearray(MAX_BLOCK)
        return memoryview(self._discard)[:length]

    def _on_block(self, event: PieceReceived) -> None:
        wanted = self.session.receive(event)
        job = self._blocks.pop(event.key, None)
        self.bytes_received += event.length
        if not wanted or job is None:
            return
        job.blocks_left -= 1
        job.received += event.length
        if job.blocks_left == 0:
            del self.jobs[job.index]
            self.handler.on_link_piece(self, job)

    def _on_message(self, event: object) -> None:
        assert not isinstance(event, PieceReceived)
        if isinstance(event, Goodbye):
            self.close_reason = f"peer said goodbye: {event.reason}"
        self.session.receive(event)  # type: ignore[arg-type]
        if isinstance(event, Bitfield):  # the session took it only as the first answer, in range
            self.mask = bitfield_mask(event.bits)
            if not self.ready.done():
                self.ready.set_result(None)
        elif isinstance(event, Have):
            if not self.has(event.index):
                self.mask |= 1 << event.index
                self.handler.on_link_have(self, event.index)
        elif isinstance(event, Reject):
            job = self._blocks.pop(event.key, None)
            if job is not None and self.jobs.get(job.index) is job:
                self.cancel(job)  # the piece's other blocks, if any, are not wanted from here either
                self.handler.on_link_reject(self, job)
        if self.session.state is State.CLOSED:
            self.close(self.close_reason)

    # --- requesting -----------------------------------------------------------------------------------------
    def request(self, job: PieceJob) -> None:
        """Ask for every block of ``job``'s piece. The frames wait for ``flush`` so that a refill of several
        pieces costs one system call. ProtocolError (nothing changed) when the session's cap would be passed."""
        blocks = [(job.index, begin, min(self.block_size, job.length - begin))
                  for begin in range(0, job.length, self.block_size)]
        if self.session.outstanding + len(blocks) > self.session.max_outstanding:
            raise ProtocolError("too many outstanding requests")
        for key in blocks:
            self._pending.append(self.session.request(*key))
            self._blocks[key] = job
        job.keys.extend(blocks)
        job.blocks_left = len(blocks)
        self.jobs[job.index] = job

    def flush(self) -> None:
        if self._pending and self.transport is not None and not self.closed and not self.transport.is_closing():
            self.transport.write(b"".join(self._pending))
        self._pending.clear()

    def cancel(self, job: PieceJob) -> None:
        """Withdraw ``job``: its blocks still on the way go to the discard buffer, its buffer is free now."""
        if self.jobs.get(job.index) is not job:
            return
        self._drop_job(job)
        if self.closed or self.transport is None:
            return
        frames = [frame for key in job.keys if (frame := self.session.cancel(*key)) is not None]
        if frames:
            self.transport.write(b"".join(frames))

    def _drop_job(self, job: PieceJob) -> None:
        del self.jobs[job.index]
        for key in job.keys:
            self._blocks.pop(key, None)
        block = self.receiver.current_block
        if block is not None and block in job.keys:
            # Half of this block is in already, straight into the job's buffer; the buffer goes back to the pool
            # now and may take another piece, so the other half must not land there.
            self.receiver.divert(self._discard_view(block[2]))

    def set_depth_limits(self, piece_size: int, max_depth: int) -> None:
        """At most ``max_depth`` pieces in flight, fewer if their blocks would pass the request cap every server
        accepts; start with about 4 MiB in flight (at least 2 pieces)."""
        self.session.max_outstanding = MAX_REQUESTS_IN_FLIGHT
        blocks_per_piece = math.ceil(piece_size / self.block_size)
        self.max_depth = max(1, min(max_depth, MAX_REQUESTS_IN_FLIGHT // blocks_per_piece))
        self.depth = max(1, min(self.max_depth, max(2, math.ceil((4 << 20) / piece_size))))

    def measure(self, rate: float, latency_target: float, piece_size: int) -> None:
        """Fold the latest ``rate`` (bytes/s) into the smoothed one and set the depth from it (``depth_for``).
        The rate rises at once and falls slowly: a link held back by its depth delivers more only after its depth
        grew, so smoothing the rise too held a 1 Gbit/s, 300 ms link at 9 pieces after 3 ticks (1.5 s) where it
        needs 18 (``tests/swarm/test_depth.py``); a fall may be a pause of the peer's, not its speed."""
        self.rate = rate if rate > self.rate else 0.7 * self.rate + 0.3 * rate
        self.depth = depth_for(self.rate, self.rtt, latency_target, piece_size, self.max_depth)
        self.pipe = math.ceil(self.rate * self.rtt / piece_size) + 1

    def refill_due(self) -> bool:
        """Whether a lazy top-up (a piece landed) should go out now: once down to half the depth, so requests go
        out in batches and both ends make fewer writes and wake-ups; but never later than when only a round trip
        of pieces (``pipe``) is left on the way, or the link drains before the new requests reach the peer (at
        100 Mbit/s and 300 ms a round trip is 2-3 pieces of 2 MiB: at a depth of 3, half was 1)."""
        return self.in_flight <= max(self.depth // 2, min(self.depth - 1, self.pipe))

    @property
    def in_flight(self) -> int:
        return len(self.jobs)

    def oldest_job_age(self, now: float) -> float:
        return max((now - job.started_at for job in self.jobs.values()), default=0.0)

    # --- closing --------------------------------------------------------------------------------------------
    def gone(self) -> bool:
        return self.closed

    def close(self, reason: str) -> None:
        """Close once; the handler hears ``on_link_lost`` with the jobs still listed in ``self.jobs``."""
        if self.closed:
            return
        self.closed = True
        self.close_reason = reason or "closed"
        self.receiver.drop()  # no view into a job's buffer stays behind: its pool may free it now
        if self.transport is not None:
            self.transport.abort()
        if not self.ready.done():
            self.ready.set_exception(LinkClosed(self.close_reason))
            self.ready.exception()  # retrieved: nobody may be waiting any more
        else:
            self.handler.on_link_lost(self, self.close_reason)
