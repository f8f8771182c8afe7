"""The piece picker, with plain data: rarest first, random among equals, endgame duplicates, outcomes."""

from __future__ import annotations

import random
from collections import Counter

from peer_node.swarm.picker import PiecePicker
from peer_node.swarm.piece_mask import full_mask


def holds(*pieces: int) -> int:
    """A peer's pieces as the picker takes them: a mask, bit i = piece i."""
    mask = 0
    for index in pieces:
        mask |= 1 << index
    return mask


def test_rarest_piece_is_picked_first() -> None:
    picker = PiecePicker(4, rng=random.Random(1))
    picker.add_peer(None)  # a seeder: every piece once
    picker.add_peer(holds(0, 1, 3))  # piece 2 is now the rarest
    assert picker.pick(None) == 2


def test_ties_are_broken_at_random() -> None:
    firsts: Counter[int | None] = Counter()
    for seed in range(200):
        picker = PiecePicker(5, rng=random.Random(seed))
        picker.add_peer(None)
        firsts[picker.pick(None)] += 1
    assert set(firsts) == {0, 1, 2, 3, 4}


def test_a_peer_is_only_given_pieces_it_has() -> None:
    picker = PiecePicker(50, rng=random.Random(3))
    has = holds(7, 31)
    picker.add_peer(has)
    picked = {picker.pick(has), picker.pick(has)}
    assert picked == {7, 31}
    assert picker.pick(has, exclude={7, 31}) is None


def test_done_pieces_are_never_picked() -> None:
    picker = PiecePicker(3, done=[0, 2])
    picker.add_peer(None)
    assert picker.pick(None) == 1
    assert picker.pick(None, exclude={1}) is None


def test_endgame_duplicates_in_flight_pieces_to_other_peers_only() -> None:
    picker = PiecePicker(2, rng=random.Random(0), max_duplicates=2)
    picker.add_peer(None)
    picker.add_peer(None)
    a1, a2 = picker.pick(None), picker.pick(None)
    assert a1 is not None and a2 is not None and {a1, a2} == {0, 1}
    dup = picker.pick(None, exclude={a1})  # another peer, in the endgame
    assert dup == a2
    assert picker.fetchers[a2] == 2
    assert picker.pick(None, exclude={a1}) is None  # a2 already has max_duplicates fetchers
    picker.completed(a2)
    assert picker.pick(None, exclude={a2}) == a1


def test_arrived_pieces_are_not_duplicated() -> None:
    picker = PiecePicker(1)
    picker.add_peer(None)
    assert picker.pick(None) == 0
    picker.arrived_whole(0)
    assert picker.pick(None) is None


def test_abandoned_piece_goes_back_to_missing() -> None:
    picker = PiecePicker(2, rng=random.Random(5))
    picker.add_peer(None)
    first = picker.pick(None)
    assert first is not None
    picker.abandoned(first)
    assert picker.states().count(".") == 2
    assert picker.missing_unassigned == 2


def test_states_string_and_completion() -> None:
    picker = PiecePicker(3, done=[1])
    picker.add_peer(None)
    index = picker.pick(holds(0))
    assert index == 0
    assert picker.states() == "fd."
    picker.completed(0)
    picker.completed(2)
    assert picker.states() == "ddd"
    assert picker.complete


def test_availability_follows_peers_coming_and_going() -> None:
    picker = PiecePicker(3, rng=random.Random(2))
    partial = holds(0, 1)
    picker.add_peer(None)
    picker.add_peer(partial)
    partial |= holds(2)  # as PeerLink keeps its mask on a HAVE
    picker.peer_got(2)
    assert picker.availability == [2, 2, 2]
    picker.remove_peer(partial)
    assert picker.availability == [1, 1, 1]
    picker.peer_lost(2)
    assert picker.availability == [1, 1, 0]


def test_every_piece_is_picked_exactly_once_before_the_endgame() -> None:
    rng = random.Random(9)
    picker = PiecePicker(300, rng=rng)
    peers = [None, holds(*range(0, 300, 2)), holds(*range(0, 300, 3))]
    for has in peers:
        picker.add_peer(has)
    seen: list[int] = []
    while picker.missing_unassigned:
        index = picker.pick(rng.choice(peers))
        if index is not None:
            seen.append(index)
    assert sorted(seen) == list(range(300))  # no piece twice while others were still missing


def test_window_picks_fill_the_file_front_to_back() -> None:
    # Among equally rare pieces the lowest comes first: the file fills front to back.
    picker = PiecePicker(1000, rng=random.Random(3), window=8)
    picker.add_peer(None)
    assert [picker.pick(None) for _ in range(40)] == list(range(40))
    picker.abandoned(5)  # a peer lost piece 5: it is the next one asked for
    assert picker.pick(None) == 5
    assert picker.pick(holds(*range(1, 1000, 2))) == 41  # a partial peer gets the lowest piece it has


def test_window_still_prefers_rarer_pieces() -> None:
    picker = PiecePicker(100, rng=random.Random(4), window=8)
    picker.add_peer(None)
    picker.add_peer(full_mask(100) & ~holds(77))  # piece 77 is held by one peer only
    assert picker.pick(None) == 77


def test_max_availability_keeps_a_seeder_for_pieces_only_seeders_hold() -> None:
    picker = PiecePicker(4, rng=random.Random(6))
    picker.add_peer(None)  # the sharer
    picker.add_peer(holds(0, 1, 2))  # another downloader already holds three pieces
    assert picker.pick(None, max_availability=1) == 3
    assert picker.pick(None, max_availability=1) is None  # the rest should come from the other downloader
    assert picker.pick(None) in {0, 1, 2}  # without the cap the seeder may serve them too


def test_a_partial_peers_ties_are_broken_at_random_too() -> None:
    # Without a window a partial peer gets a random piece among the rarest it has, not always the same one
    # (downloaders fetching from one another should not all ask for the same piece).
    peer = holds(3, 40, 41, 90, 127)
    firsts: set[int | None] = set()
    for seed in range(100):
        picker = PiecePicker(128, rng=random.Random(seed))
        picker.add_peer(None)
        picker.add_peer(peer)  # its pieces are the commonest now: a pick for it still takes only those
        firsts.add(picker.pick(peer))
    assert firsts <= {3, 40, 41, 90, 127} and len(firsts) >= 4


def test_window_lowest_only_near_the_front_of_what_is_missing() -> None:
    # Within 8 * window + 64 of the first missing piece the lowest piece the peer has comes first; farther down
    # the file the pick among equals is random.
    near, far = holds(50, 600, 700), holds(500, 600, 700)
    picks: dict[int, set[int | None]] = {near: set(), far: set()}
    for seed in range(40):
        for peer, seen in picks.items():
            picker = PiecePicker(1000, rng=random.Random(seed), window=1)
            picker.add_peer(None)
            seen.add(picker.pick(peer))
    assert picks[near] == {50} and len(picks[far]) > 1 and picks[far] <= {500, 600, 700}
