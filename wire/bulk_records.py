"""The sealed record layer peers speak after TLS has authenticated the connection (sans-IO).

Why not TLS all the way: Python's ``ssl`` decrypts one 16 KiB record per call, handing the GIL back and forth each
time (about 65,000 times per GiB); that cost our downloader 1.4-1.7 CPU-seconds per GiB, more than receiving,
hashing and writing together; AES itself runs at gigabytes per second. So TLS 1.2 does what it is good at (the
handshake, the seeder's certificate pinned by fingerprint, the ``tls-unique`` channel binding the client proves its
own certificate over) and then carries exactly one HELLO each way: a 32-byte random secret and the AEAD that end
prefers. Both ends derive two AES-256 keys from the two secrets with HKDF-SHA256, salted with the channel binding,
and everything after the HELLOs travels as records of up to ~1 MiB, each one call into OpenSSL.

The AEAD is AES-256-OCB3 (RFC 7253) or AES-256-GCM, the same 256-bit key, 96-bit nonce and 128-bit tag either way,
chosen per connection from the two HELLOs (``choose``): each end says which of the two its own OpenSSL seals faster
(``wire.aead_speed``), and GCM is taken only when both say GCM. Why both: on cores without VAES, OCB3 (one AES
pass, no GHASH) ran at 3.5-3.7 GB/s against GCM's 2.6 (thirteenth session); on cores with VAES and VPCLMULQDQ, GCM
runs at 10.5 GB/s against OCB3's 7.0, and a 1 GiB download with TLS moved 7% faster (fifteenth session). Between
one end of each kind OCB3 costs the two ends less in sum (from those speeds, 0.27 + 0.14 CPU-s a GiB against 0.38 +
0.10). Every byte is sealed by a seeder and opened by a downloader, so the choice counts on both sides. OCB's
patents were released in 2021. The HELLO's magic names the version: a peer on an older record layer fails at its
HELLO, by name.

A record is a 4-byte big-endian ciphertext length (the AEAD's associated data) and the ciphertext with its
16-byte tag. The nonce is a 64-bit counter per direction, never sent: a record dropped, replayed, reordered or
moved to another connection fails authentication. Lengths are checked before anything is buffered, so a peer
cannot make us hold more than one record. Cutting the stream is indistinguishable from the connection dropping,
which the peer protocol already survives (nothing is trusted until a piece's hash checks).
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, AESOCB3
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from wire.peer_protocol import ProtocolError

HELLO_MAGIC = b"GSBULK3\0"  # version 1 sealed with AES-256-GCM, version 2 with AES-256-OCB3, both unasked
_HELLO_FAMILY = HELLO_MAGIC[:6]
SECRET_SIZE = 32
HELLO_SIZE = len(HELLO_MAGIC) + SECRET_SIZE + 1  # the last byte: the AEAD this end prefers
RECORD_HEADER = struct.Struct(">I")
HEADER_SIZE = RECORD_HEADER.size
TAG_SIZE = 16
MAX_PLAINTEXT = (1 << 20) + 4096  # a whole PIECE frame (1 MiB body and its header) fits one record
MAX_CIPHERTEXT = MAX_PLAINTEXT + TAG_SIZE
_KDF_INFO = b"groupshare bulk records v3 "  # + the AEAD's name: keys for one AEAD are never used with the other
_NONCE_PREFIX = bytes(4)
_MAX_COUNTER = (1 << 64) - 1


class Aead(enum.IntEnum):
    """What seals a connection's records; the value is the HELLO's last byte."""

    OCB3 = 0
    GCM = 1


_CIPHERS: dict[Aead, type[AESOCB3] | type[AESGCM]] = {Aead.OCB3: AESOCB3, Aead.GCM: AESGCM}


def new_cipher(aead: Aead, key: bytes) -> AESOCB3 | AESGCM:
    return _CIPHERS[aead](key)


_NAMES = {Aead.OCB3: b"aes-256-ocb3", Aead.GCM: b"aes-256-gcm"}


@dataclass(frozen=True)
class Hello:
    secret: bytes
    prefers: Aead  # the AEAD the sending end seals faster


def choose(ours: Aead, theirs: Aead) -> Aead:
    """The connection's AEAD, the same at both ends: GCM only if both prefer it (see the module doc)."""
    return Aead.GCM if ours is Aead.GCM and theirs is Aead.GCM else Aead.OCB3


def make_hello(secret: bytes, prefers: Aead) -> bytes:
    if len(secret) != SECRET_SIZE:
        raise ValueError("a bulk secret is 32 bytes")
    return HELLO_MAGIC + secret + bytes([prefers])


def parse_hello(data: bytes) -> Hello:
    """The peer's secret and preference from its HELLO; ProtocolError if it is not one."""
    if data.startswith(_HELLO_FAMILY) and not data.startswith(HELLO_MAGIC) and len(data) >= len(HELLO_MAGIC):
        theirs = data[len(_HELLO_FAMILY):len(HELLO_MAGIC)].rstrip(b"\0").decode("ascii", "replace")
        ours = HELLO_MAGIC[len(_HELLO_FAMILY):].rstrip(b"\0").decode()
        raise ProtocolError(f"the peer seals records with version {theirs} of the record layer, this node with "
                            f"version {ours}: both need the same GroupShare release")
    if len(data) != HELLO_SIZE or not data.startswith(HELLO_MAGIC):
        raise ProtocolError("the peer did not open the record layer (bad HELLO)")
    try:
        prefers = Aead(data[-1])
    except ValueError:
        raise ProtocolError(f"the peer's HELLO names an unknown AEAD ({data[-1]})") from None
    return Hello(data[len(HELLO_MAGIC):-1], prefers)


def derive_keys(client_secret: bytes, server_secret: bytes, binding: bytes, aead: Aead, *, client: bool
                ) -> tuple[bytes, bytes]:
    """(key for what we send, key for what we receive): one per direction, so no nonce is ever used twice."""
    if len(client_secret) != SECRET_SIZE or len(server_secret) != SECRET_SIZE or not binding:
        raise ValueError("two 32-byte secrets and a channel binding are needed")
    okm = HKDF(hashes.SHA256(), 64, salt=binding, info=_KDF_INFO + _NAMES[aead]).derive(client_secret + server_secret)
    to_server, to_client = okm[:32], okm[32:]
    return (to_server, to_client) if client else (to_client, to_server)


def check_length(length: int) -> None:
    """A record header's ciphertext length, checked before its bytes are awaited."""
    if not TAG_SIZE < length <= MAX_CIPHERTEXT:
        raise ProtocolError(f"sealed record of {length} bytes (at most {MAX_CIPHERTEXT}, never empty)")


def whole_record(buf: bytes | bytearray | memoryview, start: int, end: int) -> int | None:
    """The ciphertext length of the record at ``buf[start:]`` once all of it lies before ``end``, else None;
    ProtocolError as soon as its header shows an impossible length."""
    if end - start < HEADER_SIZE:
        return None
    (length,) = RECORD_HEADER.unpack_from(buf, start)
    check_length(length)
    return length if end - start - HEADER_SIZE >= length else None


class _Counter:
    def __init__(self) -> None:
        self._next = 0

    def nonce(self) -> bytes:
        if self._next > _MAX_COUNTER:
            raise ProtocolError("record counter exhausted: reconnect")
        value, self._next = self._next, self._next + 1
        return _NONCE_PREFIX + value.to_bytes(8, "big")


class Sealer:
    """Seals what one end sends; records go out in the order they were sealed."""

    def __init__(self, key: bytes, aead: Aead) -> None:
        self._aead = new_cipher(aead, key)
        self._counter = _Counter()

    def seal(self, data: bytes | bytearray | memoryview) -> bytearray:
        """``data`` as one or more records, header and ciphertext in one buffer ready to send."""
        out = bytearray(sealed_size(len(memoryview(data).cast("B"))))
        self.seal_into(data, out)
        return out

    def seal_into(self, data: bytes | bytearray | memoryview, out: bytearray | memoryview) -> int:
        """Seal ``data`` into the start of ``out`` (at least ``sealed_size(len(data))`` bytes, which it may reuse:
        a fresh megabyte costs page faults and zeroing); the number of bytes written."""
        view = memoryview(data).cast("B")
        size = len(view)
        target = memoryview(out)
        if len(target) < sealed_size(size):
            raise ValueError("the output buffer is too small for the sealed records")
        at = 0
        for start in range(0, size, MAX_PLAINTEXT):
            part = view[start:start + MAX_PLAINTEXT]
            header = RECORD_HEADER.pack(len(part) + TAG_SIZE)
            target[at:at + HEADER_SIZE] = header
            at += HEADER_SIZE
            self._aead.encrypt_into(self._counter.nonce(), part, header, target[at:at + len(part) + TAG_SIZE])
            at += len(part) + TAG_SIZE
        target.release()
        return at


def sealed_size(size: int) -> int:
    """Bytes on the wire for ``size`` bytes of plaintext."""
    return size + -(-size // MAX_PLAINTEXT) * (HEADER_SIZE + TAG_SIZE)


class Opener:
    """Opens what the other end sealed, record by record, in order."""

    def __init__(self, key: bytes, aead: Aead) -> None:
        self._aead = new_cipher(aead, key)
        self._counter = _Counter()

    def open_into(self, header: bytes | memoryview, ciphertext: memoryview, out: memoryview) -> int:
        """Decrypt one record into ``out`` (at least ``len(ciphertext) - 16`` bytes); the plaintext length."""
        try:
            self._aead.decrypt_into(self._counter.nonce(), ciphertext, bytes(header), out)
        except InvalidTag:
            raise ProtocolError("a sealed record failed authentication") from None
        return len(ciphertext) - TAG_SIZE


class RecordStream:
    """Bytes from the socket in, plaintext out: for the seeder, whose peers send small requests."""

    def __init__(self, opener: Opener) -> None:
        self._opener = opener
        self._buf = bytearray()

    def feed(self, data: bytes | bytearray | memoryview) -> list[bytes]:
        self._buf += data
        out: list[bytes] = []
        pos = 0
        buf = memoryview(self._buf)
        try:
            while (length := whole_record(buf, pos, len(buf))) is not None:
                end = pos + HEADER_SIZE + length
                plain = bytearray(length - TAG_SIZE)
                self._opener.open_into(buf[pos:pos + HEADER_SIZE], buf[pos + HEADER_SIZE:end], memoryview(plain))
                out.append(bytes(plain))
                pos = end
        finally:
            buf.release()
        del self._buf[:pos]
        return out
