"""The pure decisions of failover: who stands, who gets a vote, when to step down, when a write may be acked."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from tracker_server import election
from tracker_server.cluster_auth import cluster_key, sign, verify
from tracker_server.election import PeerView, SelfView

T = 2.0  # tracker timeout


def me(no: int = 2, size: int = 3, *, role: str = "secondary", epoch: int = 1, pos: tuple[int, int] = (1, 10),
       heard: float | None = None, started: float = -100.0) -> SelfView:
    return SelfView(no, size, epoch, role, pos[1], pos[0], heard, started)


def peer(no: int, heard: float | None = 0.0, *, role: str = "secondary", epoch: int = 1,
         pos: tuple[int, int] = (1, 10)) -> PeerView:
    return PeerView(no, heard, epoch, role, pos[1], pos[0])


def test_a_secondary_does_not_stand_while_it_hears_the_primary() -> None:
    assert not election.should_stand(me(heard=-1.0), [peer(1), peer(3)], now=0.0, timeout=T)


def test_the_highest_ranked_holder_of_the_newest_entry_stands_alone() -> None:
    others = [peer(1, None), peer(3)]  # the primary (1) is silent; 3 has the same log
    assert election.should_stand(me(no=2), others, now=0.0, timeout=T)
    assert not election.should_stand(me(no=3), [peer(1, None), peer(2)], now=0.0, timeout=T)


def test_a_newer_log_beats_rank() -> None:
    assert not election.should_stand(me(no=2, pos=(1, 9)), [peer(1, None), peer(3, pos=(1, 10))], 0.0, T)
    assert election.should_stand(me(no=3, pos=(1, 10)), [peer(1, None), peer(2, pos=(1, 9))], 0.0, T)
    assert election.should_stand(me(no=3, pos=(2, 5)), [peer(1, None), peer(2, pos=(1, 9))], 0.0, T)


def test_with_three_trackers_a_lone_secondary_never_stands() -> None:
    assert not election.should_stand(me(), [peer(1, None), peer(3, None)], now=0.0, timeout=T)


def test_with_two_trackers_the_survivor_stands() -> None:
    assert election.should_stand(me(no=2, size=2), [peer(1, None)], now=0.0, timeout=T)


def test_a_fresh_tracker_listens_first_unless_everyone_answered_or_is_not_running() -> None:
    assert not election.should_stand(me(no=1, size=2, started=-0.5), [peer(2, None)], now=0.0, timeout=T)
    assert election.should_stand(me(no=1, size=2, started=-0.5), [peer(2)], now=0.0, timeout=T)
    refused = PeerView(2, None, refused=True)  # connection refused: nothing listens there
    assert election.should_stand(me(no=1, size=2, started=-0.5), [refused], now=0.0, timeout=T)
    better_refused = PeerView(1, None, refused=True)  # rank 1 may be starting at this moment: wait for it
    assert not election.should_stand(me(no=2, size=2, started=-0.5), [better_refused], now=0.0, timeout=T)
    assert election.should_stand(me(no=2, size=2, started=-3.0), [better_refused], now=0.0, timeout=T)


def test_no_one_stands_against_a_live_primary_seen_through_a_peer() -> None:
    assert not election.should_stand(me(heard=None), [peer(1, role="primary"), peer(3)], now=0.0, timeout=T)


def vote(candidate_epoch: int = 4, candidate_position: tuple[int, int] = (3, 7), *, primary: bool = False,
         primary_heard_at: float | None = None) -> bool:
    return election.grant_vote(my_epoch=3, my_position=(3, 7), i_am_primary=primary,
                               primary_heard_at=primary_heard_at, candidate_epoch=candidate_epoch,
                               candidate_position=candidate_position, now=10.0, timeout=T)


def test_votes() -> None:
    assert vote()
    assert vote(candidate_position=(4, 1))  # a newer epoch beats a longer log
    assert not vote(candidate_epoch=3, candidate_position=(3, 9))  # epoch already used
    assert not vote(candidate_position=(3, 6))  # older log
    assert not vote(primary_heard_at=9.5)  # the voter still hears a primary
    assert not vote(primary=True)


def test_winning() -> None:
    assert election.won_election(2, granted=0, refused=0)  # the other tracker is down
    assert not election.won_election(2, granted=0, refused=1)
    assert election.won_election(3, granted=1, refused=1)
    assert not election.won_election(3, granted=0, refused=0)
    assert election.won_election(5, granted=2, refused=2) and not election.won_election(5, 1, 0)


def test_a_primary_that_cannot_hear_a_majority_steps_down() -> None:
    prim = me(no=1, role="primary")
    assert election.should_step_down(prim, [peer(2, None), peer(3, None)], now=10.0, timeout=T, primary_since=0.0)
    assert not election.should_step_down(prim, [peer(2, 9.0), peer(3, None)], now=10.0, timeout=T,
                                         primary_since=0.0)
    assert not election.should_step_down(prim, [peer(2, None), peer(3, None)], now=1.0, timeout=T,
                                         primary_since=0.0)
    assert not election.should_step_down(me(no=1, size=2, role="primary"), [peer(2, None)], 10.0, T, 0.0)


def test_acknowledging() -> None:
    assert election.may_acknowledge(2, stored_elsewhere=0)
    assert election.may_acknowledge(3, stored_elsewhere=1)
    assert not election.may_acknowledge(3, stored_elsewhere=0)
    assert not election.may_acknowledge(5, stored_elsewhere=1)


def test_cluster_signatures() -> None:
    key = cluster_key(b"s" * 32)
    headers = sign(key, "POST", "/internal/v1/status", 2, b"{}", now=1000.0)
    assert verify(key, "POST", "/internal/v1/status", headers, b"{}", now=1001.0) == 2
    assert verify(key, "POST", "/internal/v1/status", headers, b"{ }", now=1001.0) is None  # body changed
    assert verify(key, "POST", "/internal/v1/vote", headers, b"{}", now=1001.0) is None  # path changed
    assert verify(key, "POST", "/internal/v1/status", headers, b"{}", now=1100.0) is None  # stale
    assert verify(cluster_key(b"t" * 32), "POST", "/internal/v1/status", headers, b"{}", now=1001.0) is None
    assert verify(key, "POST", "/internal/v1/status", {}, b"{}", now=1001.0) is None


def test_an_election_can_end_with_a_primary_with_a_majority_or_a_lone_survivor_of_two() -> None:
    assert election.can_elect(3, 1) and election.can_elect(5, 2)
    assert not election.can_elect(3, 0) and not election.can_elect(5, 1)
    assert election.can_elect(2, 0) and election.can_elect(1, 0)  # as won_election counts a silent peer: no refusal
    assert not election.can_elect(2, 0, rejecting_others=1)  # the other runs with another secret: it would vote no
    assert election.can_elect(3, 1, rejecting_others=1)  # with 3, the one that answers makes the majority


@given(st.integers(0, 10_000), st.integers(1, 7), st.data())
def test_each_tracker_stands_for_epochs_of_its_own_above_all_it_has_seen(highest: int, size: int,
                                                                         data: st.DataObject) -> None:
    me = data.draw(st.integers(1, size))
    epoch = election.next_epoch(highest, me, size)
    assert highest < epoch <= highest + size  # the first of its own above what it saw
    assert epoch % size == me % size  # so no two trackers ever lead one epoch
    other = data.draw(st.integers(1, size))
    assert (election.next_epoch(highest, other, size) == epoch) == (other == me)
