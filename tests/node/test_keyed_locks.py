"""KeyedLocks: one lock per key, dropped when unused."""

from __future__ import annotations

import asyncio

import pytest

from peer_node.keyed_locks import KeyedLocks


async def test_one_key_is_held_by_one_at_a_time_and_other_keys_do_not_wait() -> None:
    locks = KeyedLocks()
    order: list[str] = []
    first_in = asyncio.Event()

    async def worker(key: str, name: str, hold_s: float) -> None:
        async with locks.hold(key):
            order.append(f"{name} in")
            first_in.set()
            await asyncio.sleep(hold_s)
            order.append(f"{name} out")

    a = asyncio.create_task(worker("k", "a", 0.05))
    await first_in.wait()
    b = asyncio.create_task(worker("k", "b", 0))
    c = asyncio.create_task(worker("other", "c", 0))
    await asyncio.gather(a, b, c)
    assert order.index("c in") < order.index("a out")  # another key: no wait
    assert order.index("a out") < order.index("b in")  # the same key: one after the other
    assert len(locks) == 0  # nothing left behind


async def test_a_holder_that_fails_releases_the_key() -> None:
    locks = KeyedLocks()
    with pytest.raises(RuntimeError):
        async with locks.hold("k"):
            raise RuntimeError("boom")
    async with locks.hold("k"):
        pass
    assert len(locks) == 0


async def test_a_cancelled_waiter_leaves_nothing_behind() -> None:
    locks = KeyedLocks()
    release = asyncio.Event()

    async def holder() -> None:
        async with locks.hold("k"):
            await release.wait()

    async def waiter() -> None:
        async with locks.hold("k"):
            pass

    h = asyncio.create_task(holder())
    await asyncio.sleep(0)
    w = asyncio.create_task(waiter())
    await asyncio.sleep(0)
    w.cancel()
    release.set()
    await h
    await asyncio.gather(w, return_exceptions=True)
    assert len(locks) == 0
