"""BufferPool keeps verified pieces in memory while it has other buffers to hand out, within a bounded count; its
buffers are page-aligned, in small pages of a private mapping."""

from __future__ import annotations

import mmap
from pathlib import Path

import pytest

from peer_node.swarm.buffers import BufferPool, new_buffer, receive_buffers
from peer_node.swarm.direct_io import address_of


def take(pool: BufferPool) -> memoryview:
    buf = pool.take()
    assert buf is not None
    return buf


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
    bad, good = take(pool), take(pool)
    pool.give(bad)  # failed its hash: holds nothing worth serving
    pool.give(good, 2)
    assert pool.cached(1) is None and pool.cached(2) is good and pool.in_use == 0


def test_with_no_one_to_serve_a_pool_keeps_nothing_and_reuses_its_warmest_buffer() -> None:
    pool = BufferPool(4096, 3, keep_pieces=lambda: False)
    a, b = take(pool), take(pool)
    pool.give(a, 1)
    pool.give(b, 2)
    assert pool.cached(1) is None and pool.cached(2) is None
    assert take(pool) is b  # the last one given back


def test_receive_buffers_follow_the_budget_and_never_starve() -> None:
    mib = 1 << 20
    assert receive_buffers(32 * mib, 2 * mib) == 16  # the default: 2 MiB pieces, the budget exactly
    assert receive_buffers(32 * mib, 8 * mib) == 8  # an 8 GiB file: 8 to keep two peers busy (2x the budget)
    assert receive_buffers(32 * mib, 64 * mib) == 2  # a piece above the budget still gets two
    assert receive_buffers(0, 0) == 2
    for size in (16 << 10, mib, 2 * mib, 4 * mib):  # pieces of up to an eighth of the budget: within it
        count = receive_buffers(32 * mib, size)
        assert count >= 2 and count * size <= 32 * mib


def test_a_pool_never_hands_out_more_than_its_limit() -> None:
    pool = BufferPool(4096, 4)
    bufs = [take(pool) for _ in range(pool.limit)]
    assert pool.take() is None and pool.allocated == pool.limit == 4
    pool.give(bufs[0], 3)  # a cached piece is handed out again once nothing else is free
    assert take(pool) is bufs[0] and pool.cached(3) is None and pool.allocated == 4


def vm_flags(address: int) -> list[str]:
    """The kernel's flags for the mapping holding ``address`` (``VmFlags`` in /proc/self/smaps)."""
    inside = False
    for line in Path("/proc/self/smaps").read_text().splitlines():
        head = line.split()[0] if line else ""
        if "-" in head and all(c in "0123456789abcdef-" for c in head):
            low, high = (int(x, 16) for x in head.split("-"))
            inside = low <= address < high
        elif inside and line.startswith("VmFlags:"):
            return line.split()[1:]
    raise AssertionError(f"no mapping holds {address:#x}")


MiB = 1024 * 1024


@pytest.mark.parametrize("size", [1, 4096, 100_000, 2 * MiB, 6 * MiB + 4096, 16 * MiB])
def test_buffers_are_zeroed_writable_and_aligned_for_direct_writes(size: int) -> None:
    buf = new_buffer(size)
    assert len(buf) == size and not buf.readonly and not any(buf[:: max(1, size // 97)])
    buf[-1:] = b"x"
    assert address_of(buf) % mmap.PAGESIZE == 0


def test_a_piece_buffer_is_private_and_not_advised_for_huge_pages() -> None:
    pool = BufferPool(4 * MiB, 2)
    buf = take(pool)
    buf[:] = bytes(len(buf))  # touched: what a received piece does
    flags = vm_flags(address_of(buf))
    # not "sh": a shared anonymous mapping is shmem; not "hg": on a VM whose balloon reports free memory to the
    # host, a huge page's first touch cost more than its single disk request saved (buffers.py)
    assert "sh" not in flags and "hg" not in flags, flags


def test_a_closed_pool_frees_its_buffers_at_once_and_a_late_one_as_it_comes_back() -> None:
    """A download's engine and links refer to each other, so they go only with Python's oldest generation: a
    soak saw a node hold 700 MB of finished downloads' buffers. Closing the pool gives the memory back now."""
    pool = BufferPool(4096, 4)
    kept, free, out, sliced = take(pool), take(pool), take(pool), take(pool)
    bases = [buf.obj for buf in (kept, free, out, sliced)]
    assert all(isinstance(b, mmap.mmap) for b in bases)
    pool.give(kept, 3)
    pool.give(free)
    alive = sliced[:100]  # a slice still in use elsewhere (a transport's send queue)
    pool.give(sliced)
    pool.close()
    assert [b.closed for b in bases] == [True, True, False, False]  # type: ignore[attr-defined]
    assert pool.in_use == 1 and pool.allocated == 1  # only the one still out
    assert pool.take() is None and pool.cached(3) is None
    pool.give(out)  # a link lost after the end gives its buffer back: freed then
    assert bases[2].closed and pool.allocated == 0  # type: ignore[attr-defined]
    alive[:3] = b"abc"  # the slice stays usable; its mapping goes with it
    assert bytes(alive[:3]) == b"abc"
