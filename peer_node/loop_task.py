"""One background loop of the node (the heartbeat, the watch on failed downloads): started at most once at a time,
stopped from anywhere, the loop itself included (a 401 seen by the heartbeat logs the node out, which stops the
heartbeat: cancelling and awaiting itself would never return)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")
log = logging.getLogger(__name__)
STOP_WAIT_S = 10.0  # a loop that does not end this long after its cancel is left behind, said in the log


async def wait_event(event: asyncio.Event, seconds: float) -> bool:
    """Wait for ``event`` up to ``seconds``; whether it was set. A cancel always goes through: Python
    3.11's ``wait_for`` returned normally when the event was set just as the waiting task was cancelled, so the
    cancel was lost and a loop waiting that way could not be stopped (a logout then hung for good)."""
    try:
        async with asyncio.timeout(seconds):
            await event.wait()
    except TimeoutError:
        return False
    return True


async def finished_even_if_cancelled(work: asyncio.Future[T]) -> T:
    """The result of ``work``, done in a thread. A thread cannot be stopped: a caller cancelled meanwhile waits
    for it to end (so nothing still writes into a buffer or a file it then lets go of), then ends as cancelled."""
    try:
        return await asyncio.shield(work)
    except asyncio.CancelledError:
        await asyncio.wait([work])
        raise


class LoopTask:
    def __init__(self, name: str) -> None:
        self.name = name
        self._task: asyncio.Task[None] | None = None

    def start(self, loop: Callable[[], Coroutine[Any, Any, None]]) -> bool:
        """Run ``loop()`` unless it already runs; whether it was started now."""
        if self._task is not None and not self._task.done():
            return False
        self._task = asyncio.create_task(loop(), name=self.name)
        return True

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None and task is not asyncio.current_task():
            task.cancel()
            # Bounded: whoever stops a loop (a logout, under the login lock) must not wait on it for ever.
            await asyncio.wait({task}, timeout=STOP_WAIT_S)
            if not task.done():
                log.warning("the %s loop did not stop %g s after it was asked to; going on without it", self.name,
                            STOP_WAIT_S)
                return
            with contextlib.suppress(asyncio.CancelledError):
                await task
