"""Something opened in a worker thread that its caller must close (a SQLite connection with a read transaction:
``snapshot_read.PartReader``, ``state_digest.DigestView``), never left open by a caller cancelled meanwhile.

Why: ``await asyncio.to_thread(open_)`` cancelled while the thread runs raises at once, but the thread goes on and
opens all the same; what it opened is then handed to no one and closed by no one. A ``sqlite3.Connection`` is in a
reference cycle with its own statement cache, so only the cyclic collector would close it: late, or never once the
tracker has frozen its heap (``state_rows``, ``__main__._tune_gc``). Until then its read transaction holds every
checkpoint back (the -wal grows without bound), and the process keeps the database's -shm mapped: a database
deleted and made anew at that path would be opened against the old one's shared memory.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


async def open_in_thread(open_: Callable[[], T], close: Callable[[T], None]) -> T:
    """``open_()`` in a worker thread; if the caller is cancelled before it returns, what it opens is closed (in a
    worker thread too) as soon as it is open."""
    opening = asyncio.ensure_future(asyncio.to_thread(open_))
    try:
        return await asyncio.shield(opening)
    except asyncio.CancelledError:
        opening.add_done_callback(functools.partial(_close_opened, close))
        raise


def _close_opened(close: Callable[[T], None], opening: asyncio.Future[T]) -> None:
    if not opening.cancelled() and opening.exception() is None:
        asyncio.get_running_loop().run_in_executor(None, close, opening.result())
