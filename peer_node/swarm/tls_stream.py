"""A TLS client connection whose receive side runs in its own thread: decryption off the event loop.

Theory of operation: the connection opens on the loop (``connect``, cancellable, the caller bounds the time):
``secure_channel.SecureOpening`` runs the TLS handshake over memory BIOs and the HELLO exchange, after which
both directions are sealed records (``wire.bulk_records``: AES-GCM records of up to ~1 MiB, one OpenSSL call
each, where TLS made one call and two GIL handoffs per 16 KiB). Then one daemon thread per connection does the
bulk work: a blocking ``recv_into`` into a 4 MiB ciphertext buffer and ``Opener.open_into`` of each whole
record straight into a plaintext chunk. The socket calls and the decryption release the GIL, so they run beside
the loop on the second core. Filled chunks go to the loop in batches (one ``call_soon_threadsafe`` per batch,
only when none is pending), where they are fed to the ``BufferedProtocol`` through its ``get_buffer``/
``buffer_updated``: one memcpy into the piece buffer. The protocol's state (requests, cancels, piece buffers) is
thus only ever touched on the loop; the thread never learns where a block belongs, so a cancelled piece's buffer
can be reused at once.

The loop seals what it writes (requests) with its own key and counter, so reader and writer share nothing, and
sends with ``MSG_DONTWAIT`` (the socket is in blocking mode for the thread), waiting for writability only when
the peer stops reading. Memory per connection is bounded: at most ``CHUNKS`` plaintext chunks exist; the reader
waits for one to come back from the loop (backpressure, as a paused asyncio transport would). ``abort`` shuts
the socket down, which wakes the blocked reader; the loop closes the descriptor once the reader has gone, so it
is never closed under a system call.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import threading
from collections import deque
from typing import Any

from peer_node.swarm.secure_channel import SecureOpening
from wire.bulk_records import HEADER_SIZE, MAX_CIPHERTEXT, MAX_PLAINTEXT, RECORD_HEADER, TAG_SIZE, Opener, Sealer
from wire.bulk_records import check_length as check_record_length
from wire.peer_protocol import ProtocolError

CHUNK = MAX_PLAINTEXT  # plaintext handed to the loop at once: one record's worth (a whole 1 MiB PIECE frame)
CHUNKS = 4  # plaintext chunks per connection: the bound on what is decrypted ahead of the loop
RAW = 4 * (HEADER_SIZE + MAX_CIPHERTEXT)  # ciphertext buffer; a partial record is moved to its start when full


class ThreadedTlsTransport(asyncio.Transport):
    """The small part of ``asyncio.Transport`` that ``PeerLink`` uses, over a reader thread (see module doc)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, sock: socket.socket, opening: SecureOpening,
                 protocol: asyncio.BufferedProtocol) -> None:
        super().__init__()
        assert opening.sealer is not None and opening.opener is not None
        self._loop, self._sock = loop, sock
        self._ssl = opening.ssl_object
        self._sealer: Sealer = opening.sealer
        self._opener: Opener = opening.opener
        self._leftover = opening.leftover
        self._protocol = protocol
        self._cond = threading.Condition()  # free chunks, ready chunks, closing
        self._free: list[bytearray] = []
        self._made = 0
        self._ready: deque[tuple[bytearray, int]] = deque()
        self._scheduled = False
        self._closing = False
        self._lost = False
        self._wbuf = bytearray()
        self._writing = False
        self._peername = sock.getpeername()

    # --- opening --------------------------------------------------------------------------------------------
    @classmethod
    async def connect(cls, host: str, port: int, context: ssl.SSLContext,
                      protocol: asyncio.BufferedProtocol) -> ThreadedTlsTransport:
        """Connect, run the TLS handshake on the loop, then start the reader thread and ``connection_made``."""
        loop = asyncio.get_running_loop()
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        if not infos:
            raise OSError(f"cannot resolve {host}")
        family, type_, proto, _, addr = infos[0]
        sock = socket.socket(family, type_, proto)
        try:
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            await loop.sock_connect(sock, addr)
            opening = SecureOpening(context, server_side=False)
            await loop.sock_sendall(sock, opening.start())
            while not opening.done:
                data = await loop.sock_recv(sock, 65536)
                if not data:
                    raise ConnectionResetError("peer closed the connection while opening TLS") from None
                try:
                    reply = opening.feed(data)
                except ProtocolError as exc:
                    raise ConnectionResetError(exc.message) from None
                if reply:
                    await loop.sock_sendall(sock, reply)
            transport = cls(loop, sock, opening, protocol)
        except BaseException:
            sock.close()
            raise
        sock.setblocking(True)  # for the reader thread; the loop's sends pass MSG_DONTWAIT
        protocol.connection_made(transport)
        threading.Thread(target=transport._read_loop, name="tls-reader", daemon=True).start()
        return transport

    # --- transport API (loop thread) --------------------------------------------------------------------------
    def get_extra_info(self, name: str, default: Any = None) -> Any:
        if name == "ssl_object":
            return self._ssl
        if name == "peername":
            return self._peername
        if name == "socket":
            return self._sock
        return default

    def is_closing(self) -> bool:
        return self._closing

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self._closing or not data:
            return
        self._wbuf += self._sealer.seal(data)
        self._flush()

    def _flush(self) -> None:
        while self._wbuf and not self._closing:
            try:
                sent = self._sock.send(self._wbuf, socket.MSG_DONTWAIT)
            except (BlockingIOError, InterruptedError):
                break
            except OSError as exc:
                self._fatal(exc)
                return
            del self._wbuf[:sent]
        want = bool(self._wbuf) and not self._closing
        if want and not self._writing:
            self._loop.add_writer(self._sock.fileno(), self._flush)
        elif not want and self._writing:
            self._loop.remove_writer(self._sock.fileno())
        self._writing = want

    def abort(self) -> None:
        self._shut(None)

    def close(self) -> None:
        self._shut(None)

    def _fatal(self, exc: Exception) -> None:
        self._shut(exc)

    def _shut(self, exc: Exception | None) -> None:
        if self._closing:
            return
        with self._cond:
            self._closing = True
            self._ready.clear()
            self._cond.notify_all()
        if self._writing:
            self._loop.remove_writer(self._sock.fileno())
            self._writing = False
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)  # wakes the reader; it reports back and the loop closes the fd
        self._loop.call_soon(self._report_lost, exc)

    def _report_lost(self, exc: Exception | None) -> None:
        if not self._lost:
            self._lost = True
            self._protocol.connection_lost(exc)

    # --- the reader thread ----------------------------------------------------------------------------------
    def _read_loop(self) -> None:
        error: Exception | None = None
        raw = bytearray(RAW)
        view = memoryview(raw)
        start, end = 0, len(self._leftover)
        view[:end] = self._leftover
        chunk: bytearray | None = None
        filled = 0
        try:
            while not self._closing:
                while end - start >= HEADER_SIZE:  # open every whole record buffered
                    (length,) = RECORD_HEADER.unpack_from(raw, start)
                    check_record_length(length)
                    if end - start < HEADER_SIZE + length:
                        break
                    plain = length - TAG_SIZE
                    if chunk is not None and CHUNK - filled < plain:
                        self._hand_over(chunk, filled)
                        chunk = None
                    if chunk is None:
                        chunk, filled = self._take_chunk(), 0
                        if chunk is None:
                            return  # closing
                    body = start + HEADER_SIZE
                    filled += self._opener.open_into(view[start:body], view[body:body + length],
                                                     memoryview(chunk)[filled:filled + plain])
                    start = body + length
                if start == end:
                    start = end = 0
                elif RAW - end < HEADER_SIZE + MAX_CIPHERTEXT:  # no room for a whole record: move the partial one
                    view[:end - start] = view[start:end]
                    start, end = 0, end - start
                try:
                    n = self._sock.recv_into(view[end:], RAW - end, socket.MSG_DONTWAIT)
                except BlockingIOError:
                    if chunk is not None and filled:  # nothing more for now: let the loop have what there is
                        self._hand_over(chunk, filled)
                        chunk = None
                    n = self._sock.recv_into(view[end:], RAW - end)
                if n == 0:
                    if start != end:
                        raise ConnectionResetError("the peer's stream ended inside a record")
                    break
                end += n
        except (OSError, ProtocolError) as exc:
            error = exc
        finally:
            if chunk is not None and filled:  # authentic bytes opened before an error still count
                self._hand_over(chunk, filled)
            with contextlib.suppress(RuntimeError):  # the loop is gone: nobody to tell
                self._loop.call_soon_threadsafe(self._reader_gone, error, error is None and not self._closing)

    def _take_chunk(self) -> bytearray | None:
        with self._cond:
            while not self._closing:
                if self._free:
                    return self._free.pop()
                if self._made < CHUNKS:
                    self._made += 1
                    return bytearray(CHUNK)
                self._cond.wait()
        return None

    def _hand_over(self, chunk: bytearray, filled: int) -> None:
        with self._cond:
            if self._closing:
                return
            self._ready.append((chunk, filled))
            if self._scheduled:
                return
            self._scheduled = True
        try:
            self._loop.call_soon_threadsafe(self._deliver)
        except RuntimeError:  # the loop is closed
            with self._cond:
                self._closing = True

    # --- back on the loop -----------------------------------------------------------------------------------
    def _deliver(self) -> None:
        with self._cond:
            batch = list(self._ready)
            self._ready.clear()
            self._scheduled = False
        protocol = self._protocol
        for chunk, filled in batch:
            data = memoryview(chunk)[:filled]
            pos = 0
            while pos < filled and not self._closing:
                buf = memoryview(protocol.get_buffer(filled - pos))
                n = min(len(buf), filled - pos)
                buf[:n] = data[pos:pos + n]
                protocol.buffer_updated(n)
                pos += n
            with self._cond:
                self._free.append(chunk)
                self._cond.notify()

    def _reader_gone(self, error: Exception | None, eof: bool) -> None:
        if self._ready:
            self._deliver()
        if not self._closing and eof and error is None:
            self._protocol.eof_received()
        self._shut(error)
        self._sock.close()
