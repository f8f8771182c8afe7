"""Piece geometry shared by the tracker (validation) and the nodes (hashing, downloading), and the piece digest.

Pieces default to 2 MiB and grow in powers of two so that a file has at most about 2,000 pieces; every piece
is ``piece_size`` bytes but the last, which holds the remainder. An empty file has zero pieces. Why 2 MiB and
not BitTorrent's usual 256 KiB-1 MiB: every piece costs a node Python work (a request, a hand-off to a writer
thread and back, a HAVE to every peer, picker and hash bookkeeping), and on two cores that, not the bytes, is
what a flash crowd runs out of. A crowd of 8 on 256 MiB (bench, 2 runs each): 512 KiB pieces 4.5-4.7 s and
8.4-8.8 CPU-s, 1 MiB 3.8-4.1 s and 6.9-7.6, 2 MiB 3.6 s and 6.6; a 1 GiB swarm 3->1 gains ~7% over 1 MiB pieces.

A piece's hash is the whole file's SHA-256 chaining value after that piece (``wire.sha256_chain``), and the
last piece's is the file's SHA-256 digest itself. So one SHA-256 pass over a piece, resumed from the previous
piece's entry, checks it alone and in any order; once every piece has checked, the assembled file's SHA-256 is
the listed one by construction, with no second pass. Before this, a piece's digest was BLAKE3 and the downloader
streamed a separate whole-file SHA-256: two hashes per byte, and pieces read back from the disk when they
arrived out of order. On this machine (AVX2, SHA-NI) BLAKE3 ran at 1.5 GB/s and SHA-256 at 1.17: the 1 GiB swarm's
downloader spent 0.9 CPU-s a GiB less without the second hash (bench/HISTORY.md, eleventh session).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from wire.sha256_chain import BLOCK_SIZE, IV, Buffer, Sha256Chain

EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()  # hashlib: a tracker never loads libcrypto's SHA256_* for this
MIN_PIECE_SIZE = 2 * 1024 * 1024  # the default floor
MIN_ACCEPTED_PIECE_SIZE = 16 * 1024  # what a tracker accepts (tests use small pieces)
MAX_PIECE_SIZE = 64 * 1024 * 1024
TARGET_PIECES = 2000
MAX_FILE_SIZE = 1 << 44  # 16 TiB: far beyond any group share, small enough that counts stay sane


def piece_size_for(file_size: int) -> int:
    size = MIN_PIECE_SIZE
    while size < MAX_PIECE_SIZE and file_size > size * TARGET_PIECES:
        size *= 2
    return size


def piece_count(file_size: int, piece_size: int) -> int:
    return -(-file_size // piece_size)


def piece_length(index: int, file_size: int, piece_size: int) -> int:
    """Length of piece ``index``; raises IndexError outside the file."""
    count = piece_count(file_size, piece_size)
    if not 0 <= index < count:
        raise IndexError(f"piece {index} outside 0..{count - 1}")
    if index < count - 1:
        return piece_size
    return file_size - piece_size * (count - 1)


def is_valid_piece_size(piece_size: int) -> bool:
    return MIN_ACCEPTED_PIECE_SIZE <= piece_size <= MAX_PIECE_SIZE and piece_size & (piece_size - 1) == 0


def piece_matches(piece_hashes: Sequence[bytes], piece_size: int, index: int, data: Buffer) -> bool:
    """Whether ``data`` is piece ``index`` of the file these hashes list: resumed from the previous piece's
    chaining value (or SHA-256's initial one), it must reach this piece's (or, for the last, the digest)."""
    count = len(piece_hashes)
    if not 0 <= index < count:
        return False
    last = index == count - 1
    size = len(memoryview(data).cast("B"))
    if not last and size != piece_size:
        return False
    chain = Sha256Chain(IV if index == 0 else piece_hashes[index - 1], index * piece_size)
    chain.update(data)
    return (chain.digest() if last else chain.state()) == piece_hashes[index]


def lists_its_digest(piece_hashes: Sequence[bytes], sha256_hex: str) -> bool:
    """Whether a listing's chain ends at its own digest (for no pieces: the digest of no bytes), so that pieces
    which all check make a file with that SHA-256."""
    if not piece_hashes:
        return sha256_hex == EMPTY_SHA256
    return piece_hashes[-1].hex() == sha256_hex


class PieceHasher:
    """The sharer's side: fed the file's bytes in order (any chunk sizes), lists each piece's hash as it ends."""

    def __init__(self, size: int, piece_size: int) -> None:
        if piece_size <= 0 or (size > piece_size and piece_size % BLOCK_SIZE):
            raise ValueError(f"piece size {piece_size}: a chaining value needs a multiple of {BLOCK_SIZE} bytes")
        self.size, self.piece_size = size, piece_size
        self._chain = Sha256Chain()
        self._hashes: list[bytes] = []

    def update(self, data: Buffer) -> None:
        view = memoryview(data).cast("B")
        while view:
            room = self.piece_size - self._chain.offset % self.piece_size
            part, view = view[:room], view[room:]
            self._chain.update(part)
            if self._chain.offset % self.piece_size == 0 and self._chain.offset < self.size:
                self._hashes.append(self._chain.state())
        if self._chain.offset > self.size:
            raise ValueError(f"fed {self._chain.offset} bytes of a {self.size}-byte file")

    def finish(self) -> tuple[str, tuple[bytes, ...]]:
        """(the file's SHA-256 in hex, the piece hashes); all ``size`` bytes must have been fed."""
        if self._chain.offset != self.size:
            raise ValueError(f"fed {self._chain.offset} bytes of a {self.size}-byte file")
        digest = self._chain.digest()
        return digest.hex(), (*self._hashes, digest) if self.size else ()


def piece_hashes_of(data: Buffer, piece_size: int) -> tuple[str, tuple[bytes, ...]]:
    """(SHA-256 hex, piece hashes) of bytes in memory (small files, tests)."""
    hasher = PieceHasher(len(memoryview(data).cast("B")), piece_size)
    hasher.update(data)
    return hasher.finish()
