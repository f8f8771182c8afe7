"""One background loop of the node (the heartbeat, the watch on failed downloads): started at most once at a time,
stopped from anywhere, the loop itself included (a 401 seen by the heartbeat logs the node out, which stops the
heartbeat: cancelling and awaiting itself would never return)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Coroutine
from typing import Any


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
            with contextlib.suppress(asyncio.CancelledError):
                await task
