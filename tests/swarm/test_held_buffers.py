"""HeldBuffers: every buffer the whole-file hash kept goes back to the pool once, whichever news comes first."""

from __future__ import annotations

from peer_node.swarm.buffers import BufferPool, HeldBuffers


def take(pool: BufferPool) -> memoryview:
    buf = pool.take()
    assert buf is not None
    return buf


def test_a_held_buffer_goes_back_when_released() -> None:
    pool = BufferPool(4096, 4)
    held = HeldBuffers(pool)
    a, b = take(pool), take(pool)
    held.settle(3, a, True, ())
    held.settle(1, b, False, ())  # not held: straight back
    assert len(held) == 1 and pool.in_use == 1
    held.settle(0, take(pool), False, (3,))  # the hash reached 3 while writing 0
    assert len(held) == 0 and pool.in_use == 0


def test_a_release_that_comes_before_the_hold_still_frees_the_buffer() -> None:
    # Writer thread A keeps piece 5; thread B's call hashes it and releases it; B's callback runs on the loop
    # before A's. Before the fix, A's callback then kept the buffer for good: the pool shrank by one each time.
    pool = BufferPool(4096, 4)
    held = HeldBuffers(pool)
    a, b = take(pool), take(pool)
    held.settle(4, b, False, (5,))  # B: wrote 4, released 5 (not known as held yet)
    held.settle(5, a, True, ())  # A: wrote 5, held
    assert len(held) == 0 and pool.in_use == 0


def test_a_piece_held_and_released_in_one_call_is_not_kept() -> None:
    pool = BufferPool(4096, 2)
    held = HeldBuffers(pool)
    held.settle(2, take(pool), True, (2,))
    assert len(held) == 0 and pool.in_use == 0
