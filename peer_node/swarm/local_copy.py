"""Filling a download from a complete copy of the same file that this node already serves.

Why: a member who holds a file (shared it, or downloaded it before) and downloads it again, to another folder or
from another group where the same bytes are listed, would otherwise wait for some *other* node to send it, and fail
with "no seeder reachable" while the file sits on their own disk (the tracker lists them as its only seeder). The
catalog finds a complete copy by the file's SHA-256, so the copy is taken from disk instead.

Nothing is trusted because it is local: each piece goes through the same ``PieceStore.verify_and_write`` as a piece
from a peer (checked against the listed SHA-256 chain, then written), so a shared file edited since it was shared
gives only its unchanged pieces, and the engine fetches the rest from peers. One piece at a time in a worker thread,
recorded on the loop as it lands: the download's progress, its HAVEs to peers and its saved state move as they do
for pieces from the network, and cancelling the download stops the copy between two pieces.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from peer_node.swarm.buffers import new_buffer
from peer_node.swarm.store import PieceStore
from wire.errors import NotFound


async def copy_from_local(source: PieceStore, target: PieceStore, on_piece: Callable[[int], None]) -> int:
    """Write into ``target`` every piece it lacks that ``source`` (complete, same file) gives with the right hash;
    ``on_piece(i)`` after each one. Returns how many were written; the rest is left to the engine. Stops early,
    without error, when either store is closed under it (the share stopped, the download was removed)."""
    meta = target.meta
    if not source.is_complete or source.meta.sha256 != meta.sha256 or source.meta.size != meta.size:
        return 0
    loop = asyncio.get_running_loop()
    buffer = new_buffer(meta.piece_size)  # page-aligned, as a direct write wants
    written = 0
    for index in range(meta.piece_count):
        if target.has(index):
            continue
        try:
            source.acquire()
        except NotFound:
            break
        try:
            target.acquire()
        except NotFound:
            source.release()
            break
        job = loop.run_in_executor(None, _copy_piece, source, target, index, buffer)

        def let_go(_job: object) -> None:  # only once the thread is done with both descriptors
            source.release()
            target.release()

        job.add_done_callback(let_go)
        # shield: a cancelled download stops here, but the thread's piece finishes before the stores let go
        if not await asyncio.shield(job):
            continue
        target.mark_verified(index)
        on_piece(index)
        written += 1
    return written


def _copy_piece(source: PieceStore, target: PieceStore, index: int, buffer: memoryview) -> bool:
    """Thread: piece ``index`` from ``source`` into ``target`` if it matches its digest. Both are acquired."""
    meta = target.meta
    length = min(meta.piece_size, meta.size - index * meta.piece_size)
    view = buffer[:length]
    got = source.read_block(view, index * meta.piece_size)
    return got == length and target.verify_and_write(index, view)
