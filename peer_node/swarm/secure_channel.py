"""Opening a peer connection under TLS, and both ends of the sealed record layer after it.

Theory of operation: ``SecureOpening`` is sans-IO. It runs the TLS 1.2 handshake over two memory BIOs, then each
end sends one HELLO inside TLS (``wire.bulk_records``: a fresh 32-byte secret and the AEAD it seals faster) and
reads the other's. From the two secrets and the connection's ``tls-unique`` binding both derive a key per direction
for the AEAD the two HELLOs choose; whatever raw bytes follow the peer's HELLO record (``leftover``) are already
sealed records. Memory BIOs are what make the switch possible: OpenSSL reads exactly one TLS record at a time from
them (no read-ahead), so the bytes after the HELLO stay in the BIO for us. The ``SSLObject`` stays available for
what TLS proved: the seeder's certificate (the client pins its fingerprint) and the channel binding (the client
signs it to prove its own certificate).

The downloader (``connect``) drives the opening with socket calls on the loop, then hands the socket to asyncio
with a ``ClientChannel`` in front of the peer link: ciphertext is received into one buffer and each whole record
is opened straight into the memory the link offers (the piece buffer, for a PIECE body). The seeder puts a
``ServerChannel`` in front of each connection's protocol: it feeds the opening from ``data_received``, then
opens incoming records and hands the plaintext on. Both give the inner protocol a ``SealedTransport`` whose
``write`` seals. The seeder's inner protocol is told of the connection at once (so its connection caps and
handshake timeout cover a peer that stalls in TLS too); what it writes before the record layer is open waits
for it (the piece server only ever answers what it received, so in practice nothing does).
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import ssl
from typing import Any, Protocol

from peer_node.swarm.buffers import free_buffer, new_buffer
from wire.aead_speed import preferred_aead
from wire.bulk_records import (
    HEADER_SIZE,
    HELLO_SIZE,
    MAX_CIPHERTEXT,
    MAX_PLAINTEXT,
    SECRET_SIZE,
    TAG_SIZE,
    Aead,
    Opener,
    RecordStream,
    Sealer,
    choose,
    derive_keys,
    make_hello,
    parse_hello,
    sealed_size,
    whole_record,
)
from wire.peer_protocol import ProtocolError

log = logging.getLogger(__name__)


class SecureOpening:
    """The TLS handshake and the HELLO exchange, fed with the peer's bytes; returns what to send back."""

    def __init__(self, context: ssl.SSLContext, *, server_side: bool) -> None:
        self._in, self._out = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.ssl_object = context.wrap_bio(self._in, self._out, server_side=server_side)
        self._server_side = server_side
        self._secret = os.urandom(SECRET_SIZE)
        self._prefers = preferred_aead()
        self.aead: Aead | None = None  # the connection's, once both HELLOs are in
        self._handshaken = False
        self._hello = bytearray()
        self.done = False
        self.sealer: Sealer | None = None
        self.opener: Opener | None = None
        self.leftover = b""  # sealed bytes that came after the peer's HELLO

    def start(self) -> bytes:
        """The first flight (the client's ClientHello; nothing for the server)."""
        return self.feed(b"")

    def feed(self, data: bytes) -> bytes:
        """Raises ``ssl.SSLError`` on a TLS failure, ``ProtocolError`` on a bad HELLO."""
        if self.done:
            raise RuntimeError("the opening is over: the rest are sealed records")
        if data:
            self._in.write(data)
        try:
            if not self._handshaken:
                self.ssl_object.do_handshake()
                self._handshaken = True
                self.ssl_object.write(make_hello(self._secret, self._prefers))
            while len(self._hello) < HELLO_SIZE:
                got = self.ssl_object.read(HELLO_SIZE - len(self._hello))
                if not got:
                    raise ProtocolError("the peer closed TLS before its HELLO")
                self._hello += got
            self._finish()
        except ssl.SSLWantReadError:
            pass
        return self._out.read()

    def _finish(self) -> None:
        if self.ssl_object.pending():
            raise ProtocolError("the peer sent more than its HELLO inside TLS")
        peer = parse_hello(bytes(self._hello))
        binding = self.ssl_object.get_channel_binding("tls-unique")
        if not binding:
            raise ProtocolError("no TLS channel binding on this connection")
        client, server = (peer.secret, self._secret) if self._server_side else (self._secret, peer.secret)
        aead = self.aead = choose(self._prefers, peer.prefers)
        send_key, receive_key = derive_keys(client, server, binding, aead, client=not self._server_side)
        self.sealer, self.opener = Sealer(send_key, aead), Opener(receive_key, aead)
        self.leftover = self._in.read()
        self.done = True


class _Channel(Protocol):
    opening: SecureOpening
    sealer: Sealer | None
    early: list[bytes]


class ServerChannel(asyncio.Protocol):
    """In front of one piece-server connection's protocol (see the module doc)."""

    def __init__(self, context: ssl.SSLContext, inner: asyncio.Protocol) -> None:
        self.opening = SecureOpening(context, server_side=True)
        self.inner = inner
        self.raw: asyncio.Transport | None = None
        self.sealer: Sealer | None = None
        self.early: list[bytes] = []  # what the inner protocol wrote before the record layer was open
        self._records: RecordStream | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.raw = transport
        self.inner.connection_made(SealedTransport(self, transport))

    def data_received(self, data: bytes) -> None:
        raw = self.raw
        assert raw is not None
        if raw.is_closing():
            return
        try:
            if self._records is None:
                reply = self.opening.feed(data)
                if reply:
                    raw.write(reply)
                if not self.opening.done:
                    return
                assert self.opening.opener is not None
                self._records, self.sealer = RecordStream(self.opening.opener), self.opening.sealer
                if self.early and self.sealer is not None:
                    raw.write(self.sealer.seal(b"".join(self.early)))
                    self.early.clear()
                data = self.opening.leftover
            plaintexts = self._records.feed(data) if data else []
        except (ssl.SSLError, ProtocolError) as exc:
            log.debug("peer connection dropped while opening or reading records: %s", exc)
            raw.abort()
            return
        for plain in plaintexts:
            if raw.is_closing():
                return
            self.inner.data_received(plain)

    def eof_received(self) -> bool | None:
        return self.inner.eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        self.inner.connection_lost(exc)

    def pause_writing(self) -> None:
        self.inner.pause_writing()

    def resume_writing(self) -> None:
        self.inner.resume_writing()


_SPARE_MIN = 64 << 10  # small writes (requests) share one buffer; a block's record grows it once


class SealedTransport(asyncio.Transport):
    """What the inner protocol writes to: sealed records on the raw transport."""

    def __init__(self, channel: _Channel, raw: asyncio.Transport) -> None:
        super().__init__()
        self._channel, self._raw = channel, raw
        self._spare = bytearray()  # the last output buffer, reused when the kernel took all of it at once

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self._raw.is_closing():
            return
        sealer = self._channel.sealer
        if sealer is None:  # sent once the record layer is open
            self._channel.early.append(bytes(data))
            return
        need = sealed_size(len(memoryview(data).cast("B")))
        out = self._spare if len(self._spare) >= need else bytearray(max(need, _SPARE_MIN))
        self._spare = bytearray()
        self._raw.write(memoryview(out)[:sealer.seal_into(data, out)])
        # What the socket did not take at once asyncio keeps, by reference since Python 3.12: reuse only if none.
        if not self._raw.get_write_buffer_size():
            self._spare = out

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        if name == "ssl_object":
            return self._channel.opening.ssl_object if self._channel.opening.done else default
        return self._raw.get_extra_info(name, default)

    def is_closing(self) -> bool:
        return self._raw.is_closing()

    def close(self) -> None:
        self._raw.close()

    def abort(self) -> None:
        self._raw.abort()

    def get_write_buffer_size(self) -> int:
        return self._raw.get_write_buffer_size()


async def connect(host: str, port: int, context: ssl.SSLContext, inner: asyncio.BufferedProtocol) -> asyncio.Transport:
    """Connect, open the connection on the loop (the caller bounds the time), then hand it to a ``ClientChannel``
    in front of ``inner``; the transport ``inner`` writes to (sealing) is returned."""
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
                raise ConnectionResetError("peer closed the connection while opening TLS")
            try:
                reply = opening.feed(data)
            except ProtocolError as exc:
                raise ConnectionResetError(exc.message) from None
            if reply:
                await loop.sock_sendall(sock, reply)
        channel = ClientChannel(opening, inner)
        await loop.create_connection(lambda: channel, sock=sock)
    except BaseException:
        sock.close()
        raise
    assert channel.sealed is not None
    return channel.sealed


RAW = 4 * (HEADER_SIZE + MAX_CIPHERTEXT)  # the downloader's ciphertext buffer; a partial record moves to its start


class ClientChannel(asyncio.BufferedProtocol):
    """The downloader's end of the record layer, in front of a ``BufferedProtocol`` (the peer link).

    The loop receives ciphertext straight into one buffer. Each whole record is opened straight into the memory
    the inner protocol offers next: for a PIECE body that is the piece buffer, so the plaintext is written once,
    by the AEAD (which releases the GIL: the verify threads hash meanwhile). Only a record larger than what is
    offered (a frame header and more in one record) goes through a scratch buffer and a copy.
    """

    def __init__(self, opening: SecureOpening, inner: asyncio.BufferedProtocol) -> None:
        assert opening.opener is not None and opening.sealer is not None
        self.opening, self.inner = opening, inner
        self.sealer: Sealer | None = opening.sealer
        self.early: list[bytes] = []
        self._opener = opening.opener
        # An anonymous mapping (``new_buffer``), not a bytearray: a bytearray zero-fills all 4 MiB at once with the
        # GIL held (py-spy put a quarter of a flash-crowd node's GIL-holding samples there, fresh pages being dear
        # on this VM); a mapping's pages are touched by the kernel's socket reads, as used, with the GIL released.
        # The crowd's CPU fell 2-4% (2 interleaved pairs). Private since the sixteenth session (shared, it was shmem):
        # no difference in 4 alternating crowds (2.84-3.15 s against 2.96-3.58 s).
        self._view = new_buffer(RAW)
        self._start, self._end = 0, len(opening.leftover)
        self._view[:self._end] = opening.leftover
        self._scratch: memoryview | None = None
        self._error: Exception | None = None
        self.raw: asyncio.Transport | None = None
        self.sealed: SealedTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.raw = transport
        self.sealed = SealedTransport(self, transport)
        self.inner.connection_made(self.sealed)
        self._open_records()

    def get_buffer(self, sizehint: int) -> memoryview:
        if RAW - self._end < HEADER_SIZE + MAX_CIPHERTEXT and self._start:  # no room for a whole record
            pending = self._end - self._start
            self._view[:pending] = self._view[self._start:self._end]
            self._start, self._end = 0, pending
        return self._view[self._end:]

    def buffer_updated(self, nbytes: int) -> None:
        self._end += nbytes
        self._open_records()

    def _open_records(self) -> None:
        raw, view, inner = self.raw, self._view, self.inner
        assert raw is not None
        try:
            while not raw.is_closing() and (length := whole_record(view, self._start, self._end)) is not None:
                start = self._start
                body = start + HEADER_SIZE
                plain = length - TAG_SIZE
                header, ciphertext = view[start:body], view[body:body + length]
                self._start = body + length
                target = memoryview(inner.get_buffer(plain))
                if len(target) >= plain:
                    self._opener.open_into(header, ciphertext, target[:plain])
                    inner.buffer_updated(plain)
                else:
                    self._open_via_scratch(header, ciphertext, plain)
        except ProtocolError as exc:
            self._error = exc
            raw.abort()
            return
        if self._start == self._end:
            self._start = self._end = 0

    def _open_via_scratch(self, header: memoryview, ciphertext: memoryview, plain: int) -> None:
        if self._scratch is None:
            self._scratch = memoryview(bytearray(MAX_PLAINTEXT))
        data = self._scratch[:plain]
        self._opener.open_into(header, ciphertext, data)
        pos = 0
        while pos < plain and self.raw is not None and not self.raw.is_closing():
            target = memoryview(self.inner.get_buffer(plain - pos))
            n = min(len(target), plain - pos)
            target[:n] = data[pos:pos + n]
            self.inner.buffer_updated(n)
            pos += n

    def eof_received(self) -> bool | None:
        if self._start != self._end:
            self._error = ConnectionResetError("the peer's stream ended inside a record")
            return None
        return self.inner.eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        try:
            self.inner.connection_lost(exc or self._error)
        finally:
            free_buffer(self._view)  # its 4 MiB now, not with the collector (buffers.free_buffer)
            self._view = memoryview(b"")

    def pause_writing(self) -> None:
        self.inner.pause_writing()

    def resume_writing(self) -> None:
        self.inner.resume_writing()
