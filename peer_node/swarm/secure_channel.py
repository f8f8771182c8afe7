"""Opening a peer connection under TLS, and the seeder's end of the sealed record layer after it.

Theory of operation: ``SecureOpening`` is sans-IO. It runs the TLS 1.2 handshake over two memory BIOs, then each
end sends one HELLO inside TLS (``wire.bulk_records``: a fresh 32-byte secret) and reads the other's. From the
two secrets and the connection's ``tls-unique`` binding both derive a key per direction; whatever raw bytes
follow the peer's HELLO record (``leftover``) are already sealed records. Memory BIOs are what make the switch
possible: OpenSSL reads exactly one TLS record at a time from them (no read-ahead), so the bytes after the HELLO
stay in the BIO for us. The ``SSLObject`` stays available for what TLS proved: the seeder's certificate (the
client pins its fingerprint) and the channel binding (the client signs it to prove its own certificate).

The client drives the opening with socket calls on the loop (``tls_stream``). The seeder puts a
``ServerChannel`` in front of each connection's protocol: it feeds the opening from ``data_received``, then
opens incoming records and hands the plaintext on, and gives the inner protocol a ``SealedTransport`` whose
``write`` seals. The inner protocol is told of the connection at once (so the seeder's connection caps and
handshake timeout cover a peer that stalls in TLS too); what it writes before the record layer is open waits
for it (the piece server only ever answers what it received, so in practice nothing does).
"""

from __future__ import annotations

import asyncio
import logging
import os
import ssl
from typing import Any

from wire.bulk_records import (
    HELLO_SIZE,
    SECRET_SIZE,
    Opener,
    RecordStream,
    Sealer,
    derive_keys,
    make_hello,
    parse_hello,
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
                self.ssl_object.write(make_hello(self._secret))
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
        client, server = (peer, self._secret) if self._server_side else (self._secret, peer)
        send_key, receive_key = derive_keys(client, server, binding, client=not self._server_side)
        self.sealer, self.opener = Sealer(send_key), Opener(receive_key)
        self.leftover = self._in.read()
        self.done = True


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


class SealedTransport(asyncio.Transport):
    """What the inner protocol writes to: sealed records on the raw transport."""

    def __init__(self, channel: ServerChannel, raw: asyncio.Transport) -> None:
        super().__init__()
        self._channel, self._raw = channel, raw

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self._raw.is_closing():
            return
        sealer = self._channel.sealer
        if sealer is None:  # sent once the record layer is open
            self._channel.early.append(bytes(data))
        else:
            self._raw.write(sealer.seal(data))

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
