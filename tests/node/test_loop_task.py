"""The node's background loops stop when asked, whatever moment the ask lands in: an event set just as the loop
is cancelled (a heartbeat woken by a download's end as the user logs out) must not swallow the cancel."""

from __future__ import annotations

import asyncio

import pytest

from peer_node.loop_task import LoopTask, wait_event


async def test_waiting_on_an_event_says_whether_it_came() -> None:
    event = asyncio.Event()
    assert await wait_event(event, 0.01) is False
    event.set()
    assert await wait_event(event, 10) is True


async def test_a_loop_woken_in_the_same_moment_it_is_stopped_stops(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("peer_node.loop_task.STOP_WAIT_S", 1.0)  # stop() gives up on a loop that goes on after 1 s
    wake = asyncio.Event()
    rounds = 0

    async def loop() -> None:
        nonlocal rounds
        while True:
            await wait_event(wake, 3600)
            wake.clear()
            rounds += 1

    for _ in range(20):  # the very race: the wake and the cancel in one turn of the event loop
        task = LoopTask("test loop")
        task.start(loop)
        running = task._task
        await asyncio.sleep(0)  # the loop is waiting
        wake.set()
        await task.stop()
        assert running is not None and running.cancelled()  # a swallowed cancel: the loop would go round for ever
    assert rounds <= 20


async def test_stopping_a_loop_that_ignores_its_cancel_gives_up_instead_of_hanging(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("peer_node.loop_task.STOP_WAIT_S", 0.2)
    done = asyncio.Event()

    async def stubborn() -> None:
        while not done.is_set():
            try:
                await asyncio.sleep(0.02)
            except asyncio.CancelledError:
                continue  # a bug of this kind: the cancel is eaten

    task = LoopTask("stubborn")
    task.start(stubborn)
    running = task._task
    await asyncio.sleep(0)
    await asyncio.wait_for(task.stop(), 30)  # returns, with a warning, rather than hold its caller for ever
    assert running is not None and not running.done()
    done.set()
    await asyncio.wait_for(running, 30)
