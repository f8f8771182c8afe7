"""The tracker client's patience with "slow down" answers (``tracker_patience.py``), with a fixed clock and jitter."""

from __future__ import annotations

from peer_node.tracker_patience import JITTER, MIN_WAIT_S, PATIENCE_S, Patience, Pauses, retry_after_s
from peer_node.views import NodeStatus
from peer_node.web_ui.format import pacing_words
from wire.errors import LoginLocked, TooManyRequests


def test_a_short_retry_after_is_waited_out() -> None:
    patience = Patience(started=100.0)
    assert patience.wait(TooManyRequests("slow down", retry_after=1), now=100.0) == 1.0


def test_waits_are_taken_while_the_call_stays_within_its_bound_then_the_refusal_is_the_answer() -> None:
    patience = Patience(started=0.0, bound_s=20.0)
    refusal = TooManyRequests("too many changes in a short time; try again in 1 s", retry_after=1)
    assert patience.wait(refusal, now=19.0) == 1.0  # ends at the bound: still waited out
    assert patience.wait(refusal, now=19.5) is None  # would end past it: the caller hears it now
    assert patience.wait(TooManyRequests("too many logins", retry_after=21), now=0.0) is None  # too long at once


def test_a_login_lockout_is_never_waited_out() -> None:
    assert Patience(started=0.0).wait(LoginLocked("too many failed logins", retry_after=1), now=0.0) is None


def test_a_retry_after_of_zero_still_waits_a_little_so_resends_cannot_hammer() -> None:
    assert Patience(started=0.0).wait(TooManyRequests("slow down", retry_after=0), now=0.0) == MIN_WAIT_S


def test_jitter_stretches_a_wait_by_up_to_half_of_it_so_refused_nodes_spread_out() -> None:
    patience = Patience(started=0.0, jitter=lambda: 0.999)
    wait = patience.wait(TooManyRequests("busy", retry_after=2), now=0.0)
    assert wait is not None and 2.0 < wait < 2.0 * (1 + JITTER)


def test_a_busy_tracker_is_asked_again_after_its_retry_after_only_within_the_bound() -> None:
    patience = Patience(started=10.0)
    assert patience.busy_until(2, now=11.0) == 13.0
    assert patience.busy_until(2, now=10.0 + PATIENCE_S - 1.0) is None


def test_retry_after_reads_delta_seconds_only() -> None:
    assert [retry_after_s(h) for h in ("7", " 2 ", "0", None, "", "-1", "1.5", "Wed, 21 Oct 2015 07:28:00 GMT",
                                       "²", "9" * 20)] == [7, 2, 0, None, None, None, None, None, None, None]


def test_the_calls_waiting_out_a_slow_down_say_how_long_until_the_last_asks_again_in_words() -> None:
    pauses = Pauses()
    assert pauses.left(now=0.0) is None
    with pauses.holding(until=5.0):
        with pauses.holding(until=12.5):
            assert pauses.left(now=10.0) == 2.5
        assert pauses.left(now=10.0) == 0.0  # its time is up, its request on its way: no wait below zero
    assert pauses.left(now=10.0) is None  # none waits: a page says nothing
    node = NodeStatus("alice", "127.0.0.1:6881", "127.0.0.1:7001", 1, False)
    assert pacing_words(node) == ""
    assert pacing_words(NodeStatus("alice", "127.0.0.1:6881", None, None, False, paced_for=2.1)) == (
        "The tracker asked this node to wait: your request is sent again by itself in 3 s.")
    assert pacing_words(NodeStatus(None, "127.0.0.1:6881", None, None, False, paced_for=0.0)).endswith("in 1 s.")
