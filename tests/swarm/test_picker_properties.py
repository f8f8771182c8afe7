"""The piece picker against a brute-force reading of its rules, over random histories and random peer masks.

Each test builds a picker through a random run of events (peers coming and going, HAVEs, rejections, picks,
completions, abandons), then checks one pick against what a per-piece scan of the picker's public state says the
pick must be: a missing piece the peer has, of the lowest availability it can serve, the lowest-numbered of
those when the window applies, and None exactly when there is none (outside the endgame).
"""

from __future__ import annotations

import random
from collections.abc import Iterable

from hypothesis import assume, given
from hypothesis import strategies as st

from peer_node.swarm.picker import IN_FLIGHT, MISSING, PiecePicker
from peer_node.swarm.piece_mask import PieceMask, full_mask

WINDOWS = st.sampled_from([0, 1, 4, 32])  # no window, tiny ones (the bound applies), the engine's


def mask_of(pieces: Iterable[int]) -> int:
    mask = 0
    for index in pieces:
        mask |= 1 << index
    return mask


def peer_masks(count: int) -> st.SearchStrategy[PieceMask]:
    """A whole-file seeder (None), a dense random mask, or a sparse one (a downloader that has little yet)."""
    return st.one_of(st.none(), st.integers(0, full_mask(count)),
                     st.sets(st.integers(0, count - 1), max_size=6).map(mask_of))


def _events(draw: st.DrawFn, picker: PiecePicker, peers: list[PieceMask], steps: int) -> None:
    count = picker.count
    pieces = st.integers(0, count - 1)
    for _ in range(steps):
        event = draw(st.sampled_from(["pick", "got", "lost", "abandon", "complete", "arrived", "leave"]))
        if event == "pick":
            picker.pick(draw(peer_masks(count)), max_availability=draw(st.none() | st.integers(0, 3)))
        elif event == "got":
            picker.peer_got(draw(pieces))
        elif event == "lost":
            picker.peer_lost(draw(pieces))
        elif event == "abandon":
            picker.abandoned(draw(pieces))
        elif event == "complete":
            picker.completed(draw(pieces))
        elif event == "arrived":
            picker.arrived_whole(draw(pieces))
        elif peers:
            picker.remove_peer(peers.pop(draw(st.integers(0, len(peers) - 1))))


@st.composite
def pickers(draw: st.DrawFn, windows: st.SearchStrategy[int] = WINDOWS,
            endgame: bool = False) -> PiecePicker:
    count = draw(st.integers(1, 150))
    done = draw(st.sets(st.integers(0, count - 1), max_size=count // 2))
    picker = PiecePicker(count, done, rng=random.Random(draw(st.integers(0, 2**32))), window=draw(windows),
                         max_duplicates=draw(st.integers(1, 3)))
    peers = draw(st.lists(peer_masks(count), max_size=4))
    for mask in peers:
        picker.add_peer(mask)
    _events(draw, picker, peers, draw(st.integers(0, 40)))
    if endgame:
        while picker.missing_unassigned:  # every missing piece goes in flight: only duplicates are left
            picker.pick(None)
        for _ in range(draw(st.integers(0, 10))):
            step = draw(st.sampled_from(["pick", "complete", "arrived"]))
            index = draw(st.integers(0, count - 1))
            if step == "pick":
                picker.pick(draw(peer_masks(count)), {index})
            elif step == "complete":
                picker.completed(index)
            else:
                picker.arrived_whole(index)
    return picker


def _servable(picker: PiecePicker, mask: PieceMask, cap: int | None) -> list[int]:
    """By a scan, piece by piece: missing, held by the peer, no more available than ``cap``."""
    return [i for i in range(picker.count) if picker.state[i] == MISSING and (mask is None or mask >> i & 1)
            and (cap is None or picker.availability[i] <= cap)]


@given(pickers())
def test_each_bucket_mask_holds_exactly_the_pieces_of_its_list(picker: PiecePicker) -> None:
    assert picker._masks.keys() == picker._buckets.keys()
    for avail, bucket in picker._buckets.items():
        assert picker._masks[avail] == mask_of(bucket)
        assert all(picker.state[i] == MISSING and picker.availability[i] == avail for i in bucket)
    missing = [i for i in range(picker.count) if picker.state[i] == MISSING]
    assert sorted(i for bucket in picker._buckets.values() for i in bucket) == missing
    assert picker.missing_unassigned == len(missing)


@given(st.data())
def test_a_pick_is_a_rarest_missing_piece_the_peer_has_and_none_only_when_there_is_none(data: st.DataObject) -> None:
    picker = data.draw(pickers())
    assume(picker.missing_unassigned)  # not the endgame
    mask = data.draw(peer_masks(picker.count))
    cap = data.draw(st.none() | st.integers(0, 3))
    servable = _servable(picker, mask, cap)
    availability, first_missing = list(picker.availability), picker.state.index(MISSING)
    bucket_sizes = {a: len(bucket) for a, bucket in picker._buckets.items()}
    picked = picker.pick(mask, max_availability=cap)
    if not servable:
        assert picked is None
        return
    assert picked in servable and picker.state[picked] == IN_FLIGHT
    rarest = min(availability[i] for i in servable)
    assert availability[picked] == rarest
    lowest, window = min(i for i in servable if availability[i] == rarest), picker.window
    if window and (bucket_sizes[rarest] <= window or lowest < first_missing + 8 * window + 64):
        assert picked == lowest  # file order among equals


@given(st.data())
def test_with_a_window_the_pick_is_the_lowest_of_the_rarest_the_peer_has(data: st.DataObject) -> None:
    picker = data.draw(pickers(windows=st.just(1000)))  # more than any bucket holds: the bound never applies
    mask = data.draw(peer_masks(picker.count))
    servable = _servable(picker, mask, None)
    assume(servable and picker.missing_unassigned)
    rarest = min(picker.availability[i] for i in servable)
    assert picker.pick(mask) == min(i for i in servable if picker.availability[i] == rarest)


@given(st.data())
def test_in_the_endgame_a_peer_gets_a_least_fetched_piece_in_flight_that_it_has(data: st.DataObject) -> None:
    picker = data.draw(pickers(endgame=True))
    assert picker.missing_unassigned == 0
    mask = data.draw(peer_masks(picker.count))
    exclude = data.draw(st.sets(st.integers(0, picker.count - 1)))
    fetchers = list(picker.fetchers)
    eligible = [i for i in picker.in_flight if i not in exclude and i not in picker.arrived
                and (mask is None or mask >> i & 1) and fetchers[i] < picker.max_duplicates]
    picked = picker.pick(mask, exclude)
    if not eligible:
        assert picked is None
        return
    assert picked in eligible and fetchers[picked] == min(fetchers[i] for i in eligible)
    assert picker.fetchers[picked] == fetchers[picked] + 1
