"""One peer's connection to the piece server: its handshake, its requests, and the blocks sent back.

Theory of operation: an ``asyncio.Protocol`` decodes the small frames a downloader sends (HANDSHAKE, REQUEST,
CANCEL, KEEPALIVE, GOODBYE) with ``wire.peer_protocol`` and checks their order with ``wire.peer_session``. The
handshake must name a file of the catalog and carry a token the tracker signed for that file (bound to the
client's certificate fingerprint under TLS); otherwise the client gets GOODBYE and no byte of any piece. Requests
queue and one sender task answers them in order, each block after the server's upload limit lets it go: the PIECE
header with ``transport.write`` and the body with ``loop.sendfile`` (the kernel copies file to socket; under TLS,
where sendfile cannot work, ``store.read_block`` in a thread, and header and body each one sealed record). A
request for a piece the store has not verified gets REJECT, and so does one the crowd ledger gives to another
downloader. While a file downloads here, the store tells the connection of each newly verified piece (HAVE).

Every fault a peer can cause (bad frame, unknown file, bad token, too many requests, idleness, handshake taking
too long) closes that one connection.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from typing import TYPE_CHECKING, Any

from peer_node.loop_task import finished_even_if_cancelled
from peer_node.swarm.buffers import free_buffer, new_buffer
from peer_node.swarm.crowd import CrowdLedger
from peer_node.swarm.store import PieceStore
from peer_node.swarm.tls import channel_binding, check_proof
from wire.frame_receiver import FrameReceiver
from wire.peer_protocol import FROM_CLIENT, VERSION, Cancel, Handshake, ProtocolError, Request
from wire.peer_session import BlockKey, Geometry, PeerSession, Role, State
from wire.tokens import InvalidToken

if TYPE_CHECKING:
    from peer_node.swarm.server import PieceServer

HAVE_DELAY = 0.01  # seconds a HAVE may wait for others to share its write (a piece takes longer to fetch)
log = logging.getLogger(__name__)


class ServerConnection(asyncio.Protocol):
    def __init__(self, server: PieceServer) -> None:
        self.server = server
        self.addr = "?"
        self.opened_at = time.monotonic()
        self.transport: asyncio.Transport | None = None
        self.session = PeerSession(Role.SERVER, max_outstanding=server.limits.max_queued_requests)
        self.receiver = FrameReceiver(accept=FROM_CLIENT)
        self.store: PieceStore | None = None
        self.crowd: CrowdLedger | None = None  # set when we serve a complete file: requests may be refused
        self.user_id = ""
        self.expires_at = 0.0
        self.queue: deque[BlockKey] = deque()
        self.wake = asyncio.Event()
        self.can_write = asyncio.Event()
        self.can_write.set()
        self.sender: asyncio.Task[None] | None = None
        self.last_activity = time.monotonic()
        self.timer: asyncio.TimerHandle | None = None
        self.closed = False
        self.in_sendfile = False  # the transport refuses writes meanwhile: they wait in the outbox
        self.outbox: list[bytes] = []
        self.body: memoryview | None = None  # the block read for a sealed write (TLS), reused
        self.haves: list[bytes] = []  # HAVE frames gathered for one write (see _on_store_piece)

    def write(self, data: bytes) -> None:
        if self.in_sendfile:
            self.outbox.append(data)
        elif self.transport is not None and not self.transport.is_closing():  # lost, not yet told: drop it
            self.transport.write(data)

    # --- asyncio callbacks ----------------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        peer = transport.get_extra_info("peername")
        self.addr = str(peer[0]) if isinstance(peer, tuple) else str(peer)
        if not self.server.connections.admit(self):
            self.closed = True
            transport.abort()
            return
        self.timer = asyncio.get_running_loop().call_later(self.server.limits.handshake_timeout, self._tick)

    def data_received(self, data: bytes) -> None:
        if self.closed:
            return
        self.last_activity = time.monotonic()
        try:
            for event in self.receiver.feed(data):
                self.session.receive(event)
                if self.session.state is State.CLOSED:
                    self.abort()
                    return
                if isinstance(event, Handshake):
                    self._on_handshake(event)
                elif isinstance(event, Request):
                    self._on_request(event)
                elif isinstance(event, Cancel):
                    pass  # the session dropped it; the sender skips keys no longer outstanding
                if self.gone():
                    return
        except ProtocolError as exc:
            self.refuse(exc.message)

    def connection_lost(self, exc: Exception | None) -> None:
        self._teardown()

    def pause_writing(self) -> None:
        self.can_write.clear()

    def resume_writing(self) -> None:
        self.can_write.set()

    # --- handling -------------------------------------------------------------------------------------------
    def _on_handshake(self, hello: Handshake) -> None:
        if hello.version != VERSION:
            self.refuse(f"unsupported protocol version {hello.version}")
            return
        sha = hello.file_sha256.hex()
        store = self.server.catalog.get(sha)
        verifier = self.server.verifier()
        if store is None or verifier is None:
            self.refuse("file not served here")
            return
        fingerprint = ""
        if self.server.tls is not None:
            assert self.transport is not None
            try:
                fingerprint = check_proof(hello.cert, hello.proof, channel_binding(self.transport))
            except ProtocolError as exc:
                self.refuse(f"access denied: {exc.message}")
                return
        try:
            grant = verifier.verify(hello.token, now=self.server.clock(), file_sha256=sha, fingerprint=fingerprint)
        except InvalidToken as exc:
            self.refuse(f"access denied: {exc}")
            return
        if not self.server.holds(grant.group_id, sha):
            self.refuse("access denied: this node does not share that file in the token's group")
            return
        self.store, self.user_id, self.expires_at = store, grant.user_id, grant.expires_at
        assert self.transport is not None
        self.transport.write(self.session.accept(Geometry(store.meta.size, store.meta.piece_size),
                                                 store.bitfield()))
        if not store.is_complete:
            store.add_listener(self._on_store_piece)
        self.crowd = self.server.join_crowd(self, store)
        self.server.connections.accepted(self)
        self.sender = asyncio.get_running_loop().create_task(self._send_loop())

    def _on_request(self, req: Request) -> None:
        assert self.store is not None and self.transport is not None
        if not self.store.has(req.index):
            self.write(self.session.reject(req.key))
            return
        if self.crowd is not None and not self.crowd.ask(self, req.index, req.begin):
            self.server.crowd_refusals += 1
            self.write(self.session.reject(req.key))
            return
        self.queue.append(req.key)
        self.wake.set()

    def _on_store_piece(self, index: int) -> None:
        """Tell the peer of a piece verified here, gathered with the others of the next ``HAVE_DELAY`` seconds
        into one write: in a flash crowd every node tells each of its peers of every piece, and a write of its
        own per HAVE (one sealed record, one system call, one wake-up of the peer's process) was a large part of
        the crowd's CPU for a few bytes each."""
        if self.transport is None or self.closed or self.session.state is not State.READY:
            return
        self.haves.append(self.session.have(index))
        if len(self.haves) == 1:
            asyncio.get_running_loop().call_later(HAVE_DELAY, self._flush_haves)

    def _flush_haves(self) -> None:
        if self.haves and not self.closed:
            self.write(b"".join(self.haves))
        self.haves.clear()

    def _tick(self) -> None:
        """Handshake, idle and token timeouts: one timer per connection, re-armed rather than one per frame. A
        connection whose token expired is closed even while it keeps alive: its slot (and the HAVEs of a partial
        file) were for the token's lifetime only."""
        self.timer = None
        if self.closed:
            return
        limits = self.server.limits
        if self.session.state is not State.READY:
            self.refuse("handshake timeout")
            return
        token_left = self.expires_at - self.server.clock()
        if token_left <= 0:
            self.refuse("token expired")
            return
        idle_for = time.monotonic() - self.last_activity
        if idle_for >= limits.idle_timeout and not self.queue:
            self.refuse("idle timeout")
            return
        wait = min(max(1.0, limits.idle_timeout - idle_for), token_left + 0.05)
        self.timer = asyncio.get_running_loop().call_later(wait, self._tick)

    # --- sending --------------------------------------------------------------------------------------------
    async def _send_loop(self) -> None:
        assert self.store is not None and self.transport is not None
        loop = asyncio.get_running_loop()
        store, transport = self.store, self.transport
        try:
            while not self.closed:
                if not self.queue:
                    self.wake.clear()
                    await self.wake.wait()
                    continue
                key = self.queue[0]
                if self.session.is_outstanding(key):
                    # The upload limit's wait: outside the send timeout, and with the key still queued, so a
                    # connection held back by the limit is neither a stalled peer nor an idle one.
                    await self.server.pace(key[2], self)
                    if self.gone():
                        return
                self.queue.popleft()
                if not self.session.is_outstanding(key):
                    continue  # cancelled
                if self.server.clock() >= self.expires_at:
                    self.refuse("token expired")
                    return
                # A peer that stops reading must not pin this sender (and the file) forever.
                async with asyncio.timeout(self.server.limits.idle_timeout):
                    await self.can_write.wait()
                    if store.closed:  # looked at after the wait: the share may stop while the peer is slow
                        self.refuse("file no longer served")
                        return
                    store.acquire()
                    try:
                        sent = await self._send_block(loop, store, transport, key)
                    finally:
                        store.release()
                if self.gone():
                    return
                if sent:
                    self.server.count_sent(self.user_id, key[2])
                    self.last_activity = time.monotonic()
        except (ConnectionError, OSError, RuntimeError, TimeoutError) as exc:
            # The peer went away or stalled mid-send (RuntimeError: the transport closed under sendfile).
            log.debug("piece send to %s ended: %s", self.addr, exc)
            self.abort()

    async def _send_block(self, loop: asyncio.AbstractEventLoop, store: PieceStore, transport: asyncio.Transport,
                          key: BlockKey) -> bool:
        """One PIECE frame: header and body must be adjacent on the wire, so nothing else (a HAVE, a REJECT) may
        be written between them; False if the block was cancelled (or we closed) before it went out."""
        index, begin, length = key
        offset = index * store.meta.piece_size + begin
        if self.server.use_sendfile:
            if self.gone() or not self.session.is_outstanding(key):
                return False
            transport.write(self.session.piece_header(key))
            self.in_sendfile = True  # from here on other writes wait in the outbox
            try:
                await loop.sendfile(transport, store.file, offset, length, fallback=False)
            finally:
                self.in_sendfile = False
            if self.outbox and not self.gone():
                transport.write(b"".join(self.outbox))
                self.outbox.clear()
            return True
        # Sealed records (TLS): the header and the body as two writes, two records, so the downloader opens the
        # body straight into its piece buffer; then wait while the transport's buffer is full. A piece this
        # node's download has just verified is sealed (copied) straight from its buffer: no read, no thread, and
        # no await between finding it and sealing it (the buffer may be handed out again after that). Otherwise
        # what the page cache holds is copied here, and only the rest is read in a thread (direct_io).
        body = store.block_in_memory(index, begin, length) if self.server.tls is not None else None
        if body is not None:
            try:
                return await self._send_body(transport, key, body)
            finally:
                body.release()  # sealed: the download's pool may free its buffer (BufferPool.close)
        body = self._read_buffer(length)
        try:
            got = store.read_cached(body, offset)
            if got < length:
                read = loop.run_in_executor(None, _read_rest, store, body, got, offset)
                got += await finished_even_if_cancelled(read)
            if got != length:
                raise OSError("short read from the shared file")
            return await self._send_body(transport, key, body)
        finally:
            self._done_with(body)

    async def _send_body(self, transport: asyncio.Transport, key: BlockKey, body: memoryview) -> bool:
        if self.gone() or not self.session.is_outstanding(key):  # cancelled while we read or waited to write
            return False
        transport.write(self.session.piece_header(key))
        transport.write(body)
        await self.can_write.wait()
        return True

    def _read_buffer(self, length: int) -> memoryview:
        if self.server.tls is None:  # a plain transport may keep the buffer it was given
            return memoryview(bytearray(length))
        # The write seals (copies) it: one buffer per connection, no fresh megabyte per block, and page-aligned
        # (``new_buffer``), so a block the page cache lacks is read past it (store.read_block).
        if self.body is None or len(self.body) < length:
            free_buffer(self.body)
            self.body = new_buffer(length)
        return self.body[:length]

    def _done_with(self, body: memoryview) -> None:
        """Let go of a block's view of the connection's buffer (sealed by now). If the connection ended while the
        block was read or waited to go out, its teardown could not free a buffer still in use: freed here."""
        if self.server.tls is None:  # the transport may still hold this one
            return
        if self.closed:
            free_buffer(body)
        else:
            body.release()

    # --- closing --------------------------------------------------------------------------------------------
    def gone(self) -> bool:
        """A method, not the attribute, where a callback may have closed us since the last look."""
        return self.closed

    def refuse(self, reason: str) -> None:
        """Say why (one GOODBYE frame) and close this connection only."""
        if self.closed or self.transport is None:
            return
        if self.in_sendfile:  # no write possible now, and no waiting for a misbehaving peer either
            self.abort()
            return
        self.transport.write(self.session.goodbye(reason))
        self.closed = True
        self.transport.close()
        self._teardown()

    def abort(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.abort()
        self._teardown()

    def _teardown(self) -> None:
        self.closed = True
        free_buffer(self.body)  # now, not with the collector (buffers.free_buffer); a read under way keeps its own
        self.body = None
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if self.store is not None:
            self.store.remove_listener(self._on_store_piece)
        if self.crowd is not None and self.store is not None:
            self.server.leave_crowd(self, self.store.meta.sha256, self.crowd)
            self.crowd = None
        if self.sender is not None and not self.sender.done() and self.sender is not _current_task():
            self.sender.cancel()
        self.wake.set()
        self.can_write.set()
        self.server.connections.forget(self)


def _read_rest(store: PieceStore, body: memoryview, start: int, offset: int) -> int:
    """In a thread: the part of a block the page cache lacked. The view of the buffer it reads into is made and
    released here: an executor holds a call's arguments a moment after its result is out, and one of them still
    open would keep the connection's buffer from being freed (``_done_with``)."""
    with body[start:] as rest:
        return store.read_block(rest, offset + start)


def _current_task() -> asyncio.Task[Any] | None:
    try:
        return asyncio.current_task()
    except RuntimeError:
        return None
