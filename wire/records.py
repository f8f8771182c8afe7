"""Records of the tracker API that both sides build or read: file metadata and seeder entries.

``from_json`` validates everything it reads (a tracker's answer is input too) and raises BadInput.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from typing import Any

from wire.errors import BadInput
from wire.names import check_file_name, check_id
from wire.pieces import MAX_FILE_SIZE, is_valid_piece_size, lists_its_digest, piece_count

_SHA256_RE = re.compile(r"[0-9a-f]{64}")


def check_sha256(value: object, what: str = "sha256") -> str:
    if not isinstance(value, str) or not _SHA256_RE.fullmatch(value.lower()):
        raise BadInput(f"invalid {what}: want 64 hex digits")
    return value.lower()


@dataclass(frozen=True, slots=True)
class FileMeta:
    """What a group knows of a shared file: enough to download and verify it."""

    file_name: str
    size: int
    piece_size: int
    sha256: str  # hex of the whole file
    piece_hashes: tuple[bytes, ...]  # 32 bytes a piece: SHA-256 chaining values, the last the digest (wire.pieces)

    @property
    def piece_count(self) -> int:
        return len(self.piece_hashes)

    def to_json(self) -> dict[str, Any]:
        return {
            "file_name": self.file_name, "size": self.size, "piece_size": self.piece_size,
            "sha256": self.sha256, "piece_hashes": [h.hex() for h in self.piece_hashes],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FileMeta:
        name = check_file_name(data.get("file_name"))
        size = data.get("size")
        piece_size = data.get("piece_size")
        if not isinstance(size, int) or isinstance(size, bool) or not 0 <= size <= MAX_FILE_SIZE:
            raise BadInput("invalid size: want a whole number of bytes")
        if not isinstance(piece_size, int) or isinstance(piece_size, bool) or not is_valid_piece_size(piece_size):
            raise BadInput("invalid piece_size: want a power of two from 16 KiB to 64 MiB")
        hashes = data.get("piece_hashes")
        if not isinstance(hashes, list) or len(hashes) != piece_count(size, piece_size):
            raise BadInput(f"piece_hashes must list {piece_count(size, piece_size)} piece digests for this size")
        digests = tuple(bytes.fromhex(check_sha256(h, "piece hash")) for h in hashes)
        sha256 = check_sha256(data.get("sha256"))
        if not lists_its_digest(digests, sha256):
            raise BadInput("the last piece hash must be the file's sha256 (see wire.pieces); an empty file's sha256 "
                           "is that of no bytes")
        return cls(name, size, piece_size, sha256, digests)


ALL_PIECES = "all"


def encode_bitfield(bits: bytes) -> str:
    return base64.b64encode(bits).decode("ascii")


def decode_bitfield(text: object, piece_count: int) -> bytes:
    """Bit i of byte i//8, most significant bit first, is piece i."""
    if not isinstance(text, str):
        raise BadInput("invalid bitfield")
    try:
        bits = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise BadInput("invalid bitfield: not base64") from None
    if len(bits) != (piece_count + 7) // 8:
        raise BadInput(f"invalid bitfield: want {(piece_count + 7) // 8} bytes for {piece_count} pieces")
    return bits


@dataclass(frozen=True, slots=True)
class SeederInfo:
    """A live node that holds some or all pieces of a file."""

    user_id: str
    host: str
    port: int
    fingerprint: str  # hex SHA-256 of its TLS certificate; "" while peers run without TLS
    pieces: bytes | None  # bitfield, or None when it holds the whole file

    @property
    def addr(self) -> str:
        return f"{self.host}:{self.port}"

    def has(self, index: int) -> bool:
        if self.pieces is None:
            return True
        byte = index >> 3
        return byte < len(self.pieces) and bool(self.pieces[byte] & (0x80 >> (index & 7)))

    @classmethod
    def from_json(cls, data: dict[str, Any], piece_count: int) -> SeederInfo:
        host, sep, port = str(data.get("addr", "")).rpartition(":")
        if not sep or not (port.isascii() and port.isdigit()) or not 0 < int(port) < 65536 or not host:
            raise BadInput("invalid seeder address")
        pieces = data.get("pieces")
        bits = None if pieces == ALL_PIECES else decode_bitfield(pieces, piece_count)
        fingerprint = data.get("fingerprint", "")
        if not isinstance(fingerprint, str) or (fingerprint and not _SHA256_RE.fullmatch(fingerprint)):
            raise BadInput("invalid seeder fingerprint")
        return cls(check_id(data.get("user_id"), "user id"), host.strip("[]"), int(port), fingerprint, bits)
