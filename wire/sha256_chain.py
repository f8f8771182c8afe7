"""SHA-256 whose chaining value can be read at a block boundary and resumed from: what a file's piece hashes are.

Why: a download has to prove two things, that each piece is the sharer's (to blame a peer at once) and that the
whole file has the SHA-256 the sharer listed (the contract's identity of a file). Hashing every piece and then
the whole file costs two hashes per byte. But SHA-256 is a chain: the state after piece ``i`` (its eight 32-bit
words, the "chaining value") is all the hash of the file needs from the bytes before piece ``i + 1``. So the
sharer lists that state after each piece (the last entry is the digest itself), and a downloader checks any
piece alone by resuming from the previous entry: one SHA-256 pass per byte, in any order, and once every piece
checks the file's SHA-256 is the listed one by construction. A forged piece would need a second preimage of
SHA-256's compression function from a fixed chaining value; two pieces under one listing would need a SHA-256
collision. See ``wire.pieces`` for how the entries are used and SECURITY.md ("Content integrity") for the argument.

How: ``hashlib`` does not expose the state. OpenSSL's ``SHA256_Init``/``SHA256_Update``/``SHA256_Final`` work on
``SHA256_CTX``, a struct public in ``openssl/sha.h`` (unchanged since 0.9.8; the functions are deprecated in 3.0
but exported). We call the very libcrypto Python's hashlib is linked to, through ctypes, which releases the GIL
for each call: SHA-NI speed (1.15 GB/s here, as hashlib), no second OpenSSL, no C to build.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import struct
from functools import cache
from typing import Any

STATE_SIZE = 32
BLOCK_SIZE = 64  # a chaining value exists only after whole 64-byte blocks
_WORDS = struct.Struct(">8I")
IV = _WORDS.pack(0x6A09E667, 0xBB67AE85, 0x3C6EF372, 0xA54FF53A, 0x510E527F, 0x9B05688C, 0x1F83D9AB, 0x5BE0CD19)

Buffer = bytes | bytearray | memoryview


class _Ctx(ctypes.Structure):
    _fields_ = [("h", ctypes.c_uint32 * 8), ("Nl", ctypes.c_uint32), ("Nh", ctypes.c_uint32),
                ("data", ctypes.c_uint32 * 16), ("num", ctypes.c_uint), ("md_len", ctypes.c_uint)]


@cache
def _libcrypto() -> Any:
    """The libcrypto hashlib uses (dlsym on ``_hashlib``'s handle searches its dependencies), else the system's."""
    candidates: list[str] = []
    try:
        import _hashlib
        candidates.append(_hashlib.__file__)
    except (ImportError, AttributeError):
        pass
    found = ctypes.util.find_library("crypto")
    if found:
        candidates.append(found)
    for name in candidates:
        try:
            lib = ctypes.CDLL(name)
            init, update, final = lib.SHA256_Init, lib.SHA256_Update, lib.SHA256_Final
        except (OSError, AttributeError):
            continue
        init.argtypes, init.restype = [ctypes.POINTER(_Ctx)], ctypes.c_int
        update.argtypes, update.restype = [ctypes.POINTER(_Ctx), ctypes.c_void_p, ctypes.c_size_t], ctypes.c_int
        final.argtypes, final.restype = [ctypes.c_char_p, ctypes.POINTER(_Ctx)], ctypes.c_int
        return lib
    raise RuntimeError("OpenSSL's libcrypto (SHA256_Init/Update/Final) was not found: piece hashes need it")


class Sha256Chain:
    """A running SHA-256 that may start from a chaining value at a block-aligned ``offset`` of the message.
    ``update`` releases the GIL; one object is for one thread at a time."""

    def __init__(self, state: bytes = IV, offset: int = 0) -> None:
        if len(state) != STATE_SIZE or offset < 0 or offset % BLOCK_SIZE:
            raise ValueError("a chaining value is 32 bytes, at a non-negative offset that is a multiple of 64")
        self._lib = _libcrypto()
        self._ctx = _Ctx()
        self._lib.SHA256_Init(ctypes.byref(self._ctx))
        self._ctx.h[:] = _WORDS.unpack(state)
        bits = offset * 8
        self._ctx.Nl, self._ctx.Nh = bits & 0xFFFFFFFF, bits >> 32
        self.offset = offset

    def update(self, data: Buffer) -> None:
        view = memoryview(data).cast("B")
        n = len(view)
        if not n:
            return
        if not view.readonly:  # the piece buffers: hashed in place
            arr = (ctypes.c_char * n).from_buffer(view)
            try:
                self._lib.SHA256_Update(ctypes.byref(self._ctx), ctypes.addressof(arr), n)
            finally:
                del arr  # releases the export, so the caller may release or resize its buffer
        else:  # read-only memory has no address ctypes will give; bytes pass as they are, the rest is copied
            raw = data if isinstance(data, bytes) else view.tobytes()
            self._lib.SHA256_Update(ctypes.byref(self._ctx), raw, n)
        self.offset += n

    def state(self) -> bytes:
        """The chaining value after the bytes so far (only at a multiple of 64 bytes: ValueError otherwise)."""
        if self.offset % BLOCK_SIZE:
            raise ValueError(f"no chaining value after {self.offset} bytes (not a multiple of {BLOCK_SIZE})")
        return _WORDS.pack(*self._ctx.h)

    def digest(self) -> bytes:
        """The SHA-256 of the message so far (the chain itself goes on unchanged)."""
        ctx = _Ctx()
        ctypes.pointer(ctx)[0] = self._ctx  # a copy: Final pads and scrambles the context it is given
        out = ctypes.create_string_buffer(STATE_SIZE)
        self._lib.SHA256_Final(out, ctypes.byref(ctx))
        return out.raw
