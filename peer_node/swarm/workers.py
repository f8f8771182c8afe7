"""The threads that hash and write pieces: three of them for every download of the process.

Theory of operation: the piece hash and ``os.pwrite`` release the GIL, so piece verification runs beside the loop.
Three threads on two cores, because a direct write (see ``direct_io``) waits for the device with the CPU idle:
with two, pieces queued 20-30 deep behind the writers while a core had time to spare (MB/s ratio against
libtorrent 0.72-0.81x with two, 0.77-1.11x with three, interleaved runs; same CPU-seconds).
A ``concurrent.futures`` pool would do, but each submission builds a Future with its own Condition; at a
thousand pieces a second that is measurable on the loop thread. Here a job is a tuple on a ``SimpleQueue`` and
its result comes back as one ``call_soon_threadsafe`` callback: no Future, no lock per job.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
from collections.abc import Callable
from typing import Any

Done = Callable[[Any, BaseException | None], None]


class Workers:
    def __init__(self, count: int = 3, name: str = "piece-verify") -> None:
        self._jobs: queue.SimpleQueue[tuple[asyncio.AbstractEventLoop, Callable[..., Any], tuple[Any, ...], Done]]
        self._jobs = queue.SimpleQueue()
        for i in range(count):
            threading.Thread(target=self._work, name=f"{name}_{i}", daemon=True).start()

    def submit(self, loop: asyncio.AbstractEventLoop, fn: Callable[..., Any], args: tuple[Any, ...],
               done: Done) -> None:
        """Run ``fn(*args)`` in a worker; ``done(result, error)`` then runs on ``loop``."""
        self._jobs.put((loop, fn, args, done))

    def _work(self) -> None:
        while True:
            self._run(*self._jobs.get())

    @staticmethod
    def _run(loop: asyncio.AbstractEventLoop, fn: Callable[..., Any], args: tuple[Any, ...], done: Done) -> None:
        """One job, in a frame of its own: a worker waiting for the next job holds nothing of the last (its piece
        buffer, and through ``done`` the whole download, stayed referenced until the next job came)."""
        result: Any = None
        error: BaseException | None = None
        try:
            result = fn(*args)
        except Exception as exc:  # handed to the loop, which decides; the worker lives on
            error = exc
        call_from_thread(loop, done, result, error)


def call_from_thread(loop: asyncio.AbstractEventLoop, callback: Callable[..., Any], *args: Any) -> None:
    """``callback(*args)`` on ``loop``, from another thread; nothing if the loop is gone (shutting down)."""
    with contextlib.suppress(RuntimeError):
        loop.call_soon_threadsafe(callback, *args)


_WORKERS: list[Workers] = []


def hash_workers() -> Workers:
    if not _WORKERS:
        _WORKERS.append(Workers())
    return _WORKERS[0]
