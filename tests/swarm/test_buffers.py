"""BufferPool keeps verified pieces in memory while it has other buffers to hand out; HeldBuffers gives every
buffer the whole-file hash kept back to the pool once, whichever news comes first."""

from __future__ import annotations

from peer_node.swarm.buffers import BufferPool, HeldBuffers, pool_limits


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


def test_a_release_from_the_hashing_thread_frees_a_held_buffer_at_once() -> None:
    pool = BufferPool(4096, 4)
    held = HeldBuffers(pool)
    buf = take(pool)
    held.settle(3, buf, True, ())
    held.release(3)
    assert len(held) == 0 and pool.in_use == 0 and pool.cached(3) is buf  # still piece 3, for the piece server


def test_a_release_from_the_hashing_thread_before_the_hold_is_known_still_frees_it() -> None:
    pool = BufferPool(4096, 4)
    held = HeldBuffers(pool)
    held.release(5)  # the hash took piece 5 before the callback of the thread that wrote it ran
    held.settle(5, take(pool), True, ())
    assert len(held) == 0 and pool.in_use == 0


def test_a_piece_held_and_released_in_one_call_is_not_kept() -> None:
    pool = BufferPool(4096, 2)
    held = HeldBuffers(pool)
    held.settle(2, take(pool), True, (2,))
    assert len(held) == 0 and pool.in_use == 0


def test_a_verified_piece_stays_cached_until_the_pool_has_nothing_else() -> None:
    pool = BufferPool(4096, 2)
    a = take(pool)
    a[:3] = b"abc"
    pool.give(a, 7)
    assert pool.cached(7) is a and pool.in_use == 0
    b = take(pool)  # a fresh buffer first: the cached piece may still be asked for
    assert b is not a and pool.cached(7) is a
    pool.give(b)
    assert take(pool) is b  # a buffer holding nothing goes out before a cached piece
    assert take(pool) is a and pool.cached(7) is None  # nothing else left: the oldest cached piece goes
    assert pool.take() is None


def test_cached_pieces_go_oldest_first_and_a_second_copy_replaces_the_first() -> None:
    pool = BufferPool(4096, 3)
    a, b, c = take(pool), take(pool), take(pool)
    pool.give(a, 1)
    pool.give(b, 2)
    pool.give(c, 1)  # a duplicate download of piece 1: the older copy holds nothing now
    assert pool.cached(1) is c and pool.cached(2) is b
    assert take(pool) is a
    assert take(pool) is b and pool.cached(2) is None and pool.cached(1) is c


def test_only_verified_pieces_are_cached() -> None:
    pool = BufferPool(4096, 4)
    held = HeldBuffers(pool)
    bad, good, kept = take(pool), take(pool), take(pool)
    held.settle(1, bad, False, (), verified=False)  # failed its hash
    held.settle(2, good, False, ())
    held.settle(3, kept, True, ())
    assert pool.cached(1) is None and pool.cached(2) is good
    assert held.get(3) is kept and pool.cached(3) is None
    held.settle(4, take(pool), False, (3,))  # the hash released 3: cached now
    assert held.get(3) is None and pool.cached(3) is kept


def test_with_no_one_to_serve_a_pool_keeps_nothing_and_reuses_its_warmest_buffer() -> None:
    pool = BufferPool(4096, 3, keep_pieces=lambda: False)
    a, b = take(pool), take(pool)
    pool.give(a, 1)
    pool.give(b, 2)
    assert pool.cached(1) is None and pool.cached(2) is None
    assert take(pool) is b  # the last one given back


def test_pool_limits_keep_the_pool_within_twice_the_budget_and_never_starve() -> None:
    mib = 1 << 20
    assert pool_limits(32 * mib, 2 * mib) == (16, 16)  # the default: 2 MiB pieces
    assert pool_limits(32 * mib, 8 * mib) == (8, 1)  # an 8 GiB file: 8 buffers to receive, one to hold
    assert pool_limits(32 * mib, 64 * mib) == (2, 1)  # a piece above the budget still gets two and one
    for size in (16 << 10, mib, 2 * mib, 4 * mib):
        receive, hold = pool_limits(32 * mib, size)
        assert receive >= 2 and hold >= 1 and (receive + hold) * size <= 64 * mib
