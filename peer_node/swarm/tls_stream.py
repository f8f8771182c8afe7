"""A TLS client connection whose receive side runs in its own thread: decryption off the event loop.

Theory of operation: asyncio's SSL transport decrypts on the loop thread, in Python, with a copy into a
``MemoryBIO`` and a Python-level loop per 16 KiB TLS record; on the downloader that was about half of the loop
thread's time. Here the TLS state is an ``ssl.SSLObject`` over two memory BIOs, handshaken on the loop
(``connect``, cancellable, the caller bounds the time). Then one daemon thread per connection does the bulk
work: a blocking ``recv_into`` of up to 256 KiB, the copy into the incoming BIO, and ``SSLObject.read`` into
1 MiB plaintext chunks. The socket calls and the decryption release the GIL, so they run beside the loop on the
second core. Filled chunks go to the loop in batches (one ``call_soon_threadsafe`` per batch, only when none is
pending), where they are fed to the ``BufferedProtocol`` through its ``get_buffer``/``buffer_updated``: one
memcpy into the piece buffer. The protocol's state (requests, cancels, piece buffers) is thus only ever touched
on the loop; the thread never learns where a block belongs, so a cancelled piece's buffer can be reused at once.

A lock serialises the ``SSLObject`` between the reader (decrypting) and the loop (``write`` encrypting a
request); the loop then sends the ciphertext with ``MSG_DONTWAIT`` (the socket is in blocking mode for the
thread) and waits for writability only when the peer stops reading. Memory per connection is bounded: at most
``CHUNKS`` plaintext chunks exist; the reader waits for one to come back from the loop (backpressure, as a
paused asyncio transport would). ``abort`` shuts the socket down, which wakes the blocked reader; the loop
closes the descriptor once the reader has gone, so it is never closed under a system call.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import threading
from collections import deque
from typing import Any

CHUNK = 1 << 20  # plaintext handed to the loop at once (one 1 MiB block's worth)
CHUNKS = 4  # plaintext chunks per connection: the bound on what is decrypted ahead of the loop
RAW = 256 << 10  # ciphertext read per system call


class ThreadedTlsTransport(asyncio.Transport):
    """The small part of ``asyncio.Transport`` that ``PeerLink`` uses, over a reader thread (see module doc)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, sock: socket.socket, sslobj: ssl.SSLObject,
                 incoming: ssl.MemoryBIO, outgoing: ssl.MemoryBIO, protocol: asyncio.BufferedProtocol) -> None:
        super().__init__()
        self._loop, self._sock, self._ssl = loop, sock, sslobj
        self._in, self._out = incoming, outgoing
        self._protocol = protocol
        self._lock = threading.Lock()  # the SSLObject and its BIOs
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
            incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
            sslobj = context.wrap_bio(incoming, outgoing, server_side=False)
            while True:
                try:
                    sslobj.do_handshake()
                    break
                except ssl.SSLWantReadError:
                    if outgoing.pending:
                        await loop.sock_sendall(sock, outgoing.read())
                    data = await loop.sock_recv(sock, 65536)
                    if not data:
                        raise ConnectionResetError("peer closed the connection during the TLS handshake") from None
                    incoming.write(data)
            if outgoing.pending:
                await loop.sock_sendall(sock, outgoing.read())
            transport = cls(loop, sock, sslobj, incoming, outgoing, protocol)
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
        with self._lock:
            try:
                self._ssl.write(data)
            except ssl.SSLError as exc:
                self._fatal(exc)
                return
            self._wbuf += self._out.read()
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
        eof = False
        raw = memoryview(bytearray(RAW))
        chunk: bytearray | None = None
        filled = 0
        try:
            while not self._closing:
                if chunk is None:
                    chunk, filled = self._take_chunk(), 0
                    if chunk is None:
                        break
                view = memoryview(chunk)
                with self._lock:
                    try:
                        while filled < CHUNK:
                            got: int = self._ssl.read(CHUNK - filled, view[filled:])  # type: ignore[assignment]
                            if got == 0:
                                eof = True
                                break
                            filled += got
                    except ssl.SSLWantReadError:
                        pass
                    except ssl.SSLZeroReturnError:
                        eof = True
                if filled == CHUNK or (eof and filled):
                    self._hand_over(chunk, filled)
                    chunk = None
                if eof:
                    break
                if chunk is None:
                    continue  # the BIO may hold more plaintext: decrypt it into a fresh chunk
                try:
                    n = self._sock.recv_into(raw, RAW, socket.MSG_DONTWAIT)
                except BlockingIOError:
                    if filled:  # nothing more for now: let the loop have what there is, then wait
                        self._hand_over(chunk, filled)
                        chunk = None
                    n = self._sock.recv_into(raw, RAW)
                if n == 0:
                    eof = True
                    if chunk is not None and filled:
                        self._hand_over(chunk, filled)
                    break
                with self._lock:
                    self._in.write(raw[:n])
        except (OSError, ssl.SSLError) as exc:
            error = exc
        with contextlib.suppress(RuntimeError):  # the loop is gone: nobody to tell
            self._loop.call_soon_threadsafe(self._reader_gone, error, eof)

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
