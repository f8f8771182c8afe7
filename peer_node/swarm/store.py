"""One file on disk plus the bitfield of its verified pieces: what the piece server serves and a download fills.

Theory of operation: a *complete* store wraps a shared file opened read-only; it claims every piece and verifies
nothing at open (the file was hashed when shared; a downloader verifies what it receives). A *partial* store wraps
the temporary file of a download: it is sized with ``ftruncate`` (sparse, so an 8 GiB download costs no memory
on tmpfs) and its blocks are reserved where a disk is under it (``space``). Pieces are verified and written at
their offset with ``os.pwrite`` by ``verify_and_write`` in a worker thread, and the event loop then records them
with ``mark_verified``. The verified bitfield goes to a small JSON
state file (``state_file``), debounced (at most one write per ``SAVE_DELAY``) and written in a thread: a killed
node loses at most the last fraction of a second of pieces, never claims a piece it has not written. Each piece is
checked against the listed SHA-256 chain (``wire.pieces.piece_matches``) before it is written, and the chain
ends in the whole file's SHA-256, so a file whose every piece passed is the file the sharer listed: ``finish``
reads nothing again, it only moves the file into place without ever overwriting, and the store then keeps
serving the same inode from its final path. What gets the final name is that inode, the descriptor's, never what
the partial name holds by then (``file_ops``: the folder may have been moved or swapped meanwhile).

A download's pieces are written, and read to be served, past the page cache (``direct_io``, when the filesystem
allows it; the engine's and the server's buffers are page-aligned): a new page in the cache was the dearest thing
a download touched here, and a download's pages are not what the user's cache is for. That holds while peers fetch
from the download too: a flash crowd (8 downloaders serving each other 256 MiB) finished in 3.2-3.7 s so, against
4.3-6.3 s with its pieces written through the cache for the peers' reads to copy, where fresh cache pages took a
third of the crowd's CPU and the disk took 2 GiB of writes and 1.6 GiB of reads without a stall (bench/HISTORY.md,
fifteenth session). A shared file is read through the cache.

Readers and writers (the piece server's sendfile, ``read_cached`` and ``read_block``, the engine's writer threads)
hold the file descriptor through ``acquire``/``release`` so that ``close`` never pulls a descriptor out from under
a system call.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import os
import stat
from collections.abc import Callable
from pathlib import Path

from peer_node.swarm.direct_io import open_direct, read_at, read_cached, write_at
from peer_node.swarm.errors import DownloadFailed
from peer_node.swarm.file_ops import identity, move_into_place, moved_words, unlink_if_ours
from peer_node.swarm.piece_mask import bitfield_mask, mask_bitfield
from peer_node.swarm.resume_check import left_as_it_was as _left_as_it_was
from peer_node.swarm.resume_check import pieces_still_there as _pieces_still_there
from peer_node.swarm.space import reserve
from peer_node.swarm.state_file import UNSEALED, StateFile, seal_of
from wire.errors import Conflict, NotFound
from wire.pieces import lists_its_digest, piece_matches
from wire.records import FileMeta

log = logging.getLogger(__name__)
SAVE_DELAY = 0.25  # seconds between bitfield saves while pieces stream in


class PieceStore:
    def __init__(self, path: Path, meta: FileMeta, fd: int, bits: bytearray, *, complete: bool,
                 state_path: Path | None) -> None:
        self.meta = meta
        self.path = path
        self._fd = fd
        self._file = io.FileIO(fd, "rb", closefd=False)  # for loop.sendfile, which wants a file object
        self._mask = bitfield_mask(bits)  # the verified pieces, bit i = piece i; the bitfield is made from it
        self._complete = complete
        self._state = StateFile(state_path, meta) if state_path is not None else None
        self._verified = self._mask.bit_count() if not complete else meta.piece_count
        self._bytes_verified = meta.size if complete else sum(
            self._piece_len(i) for i in range(meta.piece_count) if self._bit(i))
        self._listeners: list[Callable[[int], None]] = []
        self._users = 0
        self._closed = False
        self._save_handle: asyncio.TimerHandle | None = None
        self._direct_fd = -1  # the same open file for O_DIRECT, when the filesystem allows
        self._direct_ok = True
        self._in_memory: Callable[[int], memoryview | None] | None = None  # see serve_from
        self._made = identity(os.fstat(fd)) if not complete else None  # the partial file we made (``discard``)

    # --- opening ------------------------------------------------------------------------------------------
    @classmethod
    def open_complete(cls, path: Path, meta: FileMeta) -> PieceStore:
        try:
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        except FileNotFoundError:
            raise NotFound(f"shared file {path} is gone") from None
        except OSError as exc:
            raise NotFound(f"cannot open shared file {path}: {exc.strerror}") from None
        if os.fstat(fd).st_size != meta.size:
            os.close(fd)
            raise Conflict(f"shared file {path} changed size since it was shared")
        return cls(path, meta, fd, full_bitfield(meta.piece_count), complete=True, state_path=None)

    @classmethod
    def open_partial(cls, temp_path: Path, state_path: Path, meta: FileMeta) -> PieceStore:
        saved = StateFile(state_path, meta).load_sealed()
        bits, seal = saved if saved is not None else (None, UNSEALED)
        if bits is not None and not _left_as_it_was(temp_path, meta.size):
            # The saved bits describe a file that is gone or was resized since (a clean-up of hidden files, a
            # folder made anew): trusting them would finish with holes where those pieces were, as [C].
            log.warning("%s is missing or changed since its pieces were saved: starting the download afresh",
                        temp_path)
            bits = None
        # Never write through something another local user planted at the temporary name: no symlink is
        # followed, a fresh start makes a new file (not truncate a hard link), a resumed one must be ours alone.
        flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
        fresh = bits is None
        if bits is None:
            bits = bytearray((meta.piece_count + 7) // 8)
            flags |= os.O_EXCL
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp_path)
        fd = os.open(temp_path, flags, 0o644)  # the user's file-to-be: usual mode (umask applies)
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode) or st.st_nlink != 1:
                raise Conflict(f"{temp_path} is not a plain file of its own; refusing to write to it")
            if not fresh and seal != seal_of(st):
                # Not left by a clean stop (killed, or the file edited in place since): its pieces are read and
                # checked again rather than trusted, since nothing later reads them (see ``finish``).
                bits = _pieces_still_there(fd, meta, bits)
            if st.st_size != meta.size:
                os.ftruncate(fd, meta.size)
            reserve(fd, meta.size)  # a download that cannot fit fails now, not when the disk fills up
        except (OSError, Conflict):
            os.close(fd)
            if fresh:  # the file we just made holds nothing to resume
                with contextlib.suppress(OSError):
                    os.unlink(temp_path)
            raise
        store = cls(temp_path, meta, fd, bits, complete=False, state_path=state_path)
        store._direct_fd = open_direct(fd)
        store.save_state()
        return store

    # --- queries ------------------------------------------------------------------------------------------
    def _bit(self, index: int) -> bool:
        return bool(self._mask >> index & 1)

    def _piece_len(self, index: int) -> int:
        if index < self.meta.piece_count - 1:
            return self.meta.piece_size
        return self.meta.size - self.meta.piece_size * (self.meta.piece_count - 1)

    def has(self, index: int) -> bool:
        return self._complete or (0 <= index < self.meta.piece_count and self._bit(index))

    def bitfield(self) -> bytes:
        return mask_bitfield(self._mask, self.meta.piece_count)

    @property
    def mask(self) -> int:
        """The verified pieces, bit i = piece i (``piece_mask``)."""
        return self._mask

    @property
    def is_complete(self) -> bool:
        return self._complete

    @property
    def verified_count(self) -> int:
        return self._verified

    @property
    def missing_count(self) -> int:
        return self.meta.piece_count - self._verified

    @property
    def bytes_verified(self) -> int:
        return self._bytes_verified

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def file(self) -> io.FileIO:
        """A binary file object on the store's descriptor (use between ``acquire`` and ``release``)."""
        return self._file

    # --- listeners (the piece server sends HAVE) -------------------------------------------------------------
    def add_listener(self, callback: Callable[[int], None]) -> None:
        self._listeners.append(callback)

    @property
    def watched(self) -> bool:
        """Some peer is connected to fetch from this store (the piece server listens for its new pieces)."""
        return bool(self._listeners)

    def remove_listener(self, callback: Callable[[int], None]) -> None:
        with contextlib.suppress(ValueError):
            self._listeners.remove(callback)

    # --- descriptor lifetime ------------------------------------------------------------------------------
    def acquire(self) -> int:
        """Pin the descriptor for a read or write outside the loop; pair with ``release``."""
        if self._closed:
            raise NotFound("file no longer served")
        self._users += 1
        return self._fd

    def release(self) -> None:
        self._users -= 1
        if self._closed and self._users == 0:
            self._really_close()

    # --- writing (partial stores) --------------------------------------------------------------------------
    def verify_and_write(self, index: int, data: memoryview | bytearray) -> bool:
        """Thread-safe: check ``data`` against piece ``index`` of the SHA-256 chain and, if it matches, write it
        at its offset. Returns False on a mismatch (nothing written). The caller holds ``acquire``."""
        meta = self.meta
        if not piece_matches(meta.piece_hashes, meta.piece_size, index, data):
            return False
        if not write_at(self._fd, self._direct, memoryview(data), index * meta.piece_size):
            self._direct_ok = False
        return True

    def serve_from(self, lookup: Callable[[int], memoryview | None] | None) -> None:
        """On the loop: ``lookup(index)`` finds verified pieces still whole in a download's memory (the engine's
        buffers), which ``block_in_memory`` then serves instead of the file; None when that memory goes."""
        self._in_memory = lookup

    def block_in_memory(self, index: int, begin: int, length: int) -> memoryview | None:
        """On the loop: a block of a verified piece from memory, or None (read it from the file). Valid until
        the loop runs something else: the buffer may then be handed out again."""
        lookup = self._in_memory
        buf = lookup(index) if lookup is not None and self.has(index) else None
        return buf[begin:begin + length] if buf is not None else None

    def read_block(self, view: memoryview, offset: int) -> int:
        """Thread-safe: fill ``view`` from ``offset`` of the file (fewer bytes only past its end); past the page
        cache if this store wrote the file so (a download, also once complete: see ``direct_io``). The caller
        holds ``acquire``."""
        return read_at(self._fd, self._direct, view, offset)

    def read_cached(self, view: memoryview, offset: int) -> int:
        """On the loop: fill ``view`` from ``offset`` with what the page cache holds, never waiting for the disk;
        the bytes copied (``read_block`` does the rest in a thread). Nothing for a download that writes past the
        cache: its pages are not there. The caller holds ``acquire``."""
        if self._direct >= 0:
            return 0
        return read_cached(self._fd, view, offset)

    def changed_under_us(self) -> str | None:
        """What another program did to a partial file while it downloads, seen in one fstat: "deleted" (its last
        name removed, or its folder: writes would go nowhere) or "cut short" (truncated below the size it was
        given at open, so verified pieces may now read as zeros); None when neither shows."""
        try:
            st = None if self._closed else os.fstat(self._fd)
        except OSError:
            return None
        if st is None:
            return None
        if st.st_nlink == 0:
            return "deleted"
        return "cut short" if st.st_size < self.meta.size else None

    def moved_away(self) -> str | None:
        """Why the partial file's path no longer names it (its folder renamed, moved or deleted: the writes go on
        into a file the download cannot finish), in ``file_ops``' words; None while it does. A path lookup: a stat
        on the loop, every few seconds (``partial_watch``)."""
        if self._closed:
            return None
        try:
            ours = identity(os.fstat(self._fd))
            named = identity(os.stat(self.path, follow_symlinks=False))
        except (FileNotFoundError, NotADirectoryError):
            named = None
        except OSError:  # a file system that cannot answer now: no verdict from it
            return None
        return None if named == ours else moved_words(self.path, self._fd)

    @property
    def writes_direct(self) -> bool:
        """Whether aligned pieces bypass the page cache while no peer fetches from this store (module doc)."""
        return self._direct >= 0

    @property
    def _direct(self) -> int:
        """The O_DIRECT descriptor, or -1 once the filesystem refused a direct write (reads then stop trying
        too, instead of being refused and repeated through the cache every time)."""
        return self._direct_fd if self._direct_ok else -1

    def mark_verified(self, index: int) -> None:
        """On the loop: record piece ``index`` as verified and written, tell listeners, schedule a state save."""
        if self._complete or self._bit(index) or self._closed:
            return
        self._mask |= 1 << index
        self._verified += 1
        self._bytes_verified += self._piece_len(index)
        for callback in list(self._listeners):
            callback(index)
        if self._save_handle is None:
            self._save_handle = asyncio.get_running_loop().call_later(SAVE_DELAY, self._save_soon)

    def _save_soon(self) -> None:
        self._save_handle = None
        if not self._closed and self._state is not None:
            saved = asyncio.get_running_loop().run_in_executor(None, self._state.write,
                                                               *self._state.snapshot(self.bitfield()))
            saved.add_done_callback(_log_save_error)

    def save_state(self, seal: str = UNSEALED) -> None:
        """Write the verified bitfield now, on the caller's thread (at open and close; see ``state_file``)."""
        if self._state is not None:
            self._state.save(self.bitfield(), seal)

    # --- finishing ----------------------------------------------------------------------------------------
    async def finish(self, final_path: Path) -> Path:
        """Move the verified file to ``final_path`` (never overwriting) and serve it from there. No second pass
        over the file: every piece passed the SHA-256 chain, whose last value is the whole file's digest."""
        if self._complete:
            return self.path
        if self.missing_count:
            raise DownloadFailed(f"{self.missing_count} pieces still missing")
        if not lists_its_digest(self.meta.piece_hashes, self.meta.sha256):  # trackers refuse such listings
            raise DownloadFailed("whole-file hash mismatch: the piece hashes do not end at the listed sha256")
        self.acquire()  # a store closed meanwhile refuses (NotFound) instead of moving its file away
        try:
            await asyncio.get_running_loop().run_in_executor(None, move_into_place, self.path, final_path,
                                                             self._fd)
        finally:
            self.release()
        # The file is whole and in place from here: done, whatever becomes of its bookkeeping below.
        state, self._state = self._state, None
        self.path, self._complete = final_path, True
        if self._save_handle is not None:
            self._save_handle.cancel()
            self._save_handle = None
        if state is not None:
            try:
                state.remove()
            except OSError as exc:  # its folder read-only, say: the next start's sweep deletes it (``partial_sweep``)
                log.warning("downloaded %s, but could not delete its pieces state %s: %s", final_path, state.path,
                            exc)
        return final_path

    # --- closing ------------------------------------------------------------------------------------------
    def close(self) -> None:
        """Flush the bitfield and stop serving; the descriptor closes once no reader holds it."""
        if self._closed:
            return
        if self._save_handle is not None:
            self._save_handle.cancel()
            self._save_handle = None
        if not self._complete:
            # After the last write (the engine's writers are done): sealed, so a resume may trust these bits.
            try:
                seal = seal_of(os.fstat(self._fd))
            except OSError:
                seal = UNSEALED
            self.save_state(seal)
        self._closed = True
        self._listeners.clear()
        if self._users == 0:
            self._really_close()

    def discard(self) -> None:
        """Close and delete the temporary file and its state (a cancelled download)."""
        partial = not self._complete
        self.close()
        if partial and self._made is not None:
            unlink_if_ours(self.path, self._made)  # not a file planted at its name since (``file_ops``)
            if self._state is not None:
                self._state.remove()

    def _really_close(self) -> None:
        if self._direct_fd >= 0:
            os.close(self._direct_fd)
            self._direct_fd = -1
        if self._fd >= 0:
            self._file.close()
            os.close(self._fd)
            self._fd = -1


def _log_save_error(saved: asyncio.Future[bool]) -> None:
    if not saved.cancelled() and (exc := saved.exception()) is not None:
        log.warning("could not save the download state (a resume may fetch recent pieces again): %s", exc)


def full_bitfield(count: int) -> bytearray:
    """Every piece set; the spare bits of the last byte stay clear (the wire form demands it)."""
    bits = bytearray(b"\xff" * (count // 8))
    if count % 8:
        bits.append((0xFF00 >> (count % 8)) & 0xFF)
    return bits
