"""Pure decisions of replication: who stands for primary, who gets a vote, when a primary steps down, when a
write may be acknowledged. Plain functions over plain records with ``now`` passed in; ``replication.py`` does
the I/O and calls these.

The rules (Raft's, with DESIGN.md's preference for rank):
- A log is more up to date than another if its newest entry has a higher epoch, or the same epoch and a higher
  index: ``(last_epoch, last_index)`` compared as a tuple.
- A secondary stands when it has heard no primary for ``timeout`` (or, just started, as soon as every peer
  answered or refused a connection, better-ranked ones excepted), hears no live primary through others either,
  and no reachable tracker is better placed: one with a more up-to-date log, or an equal log and a higher rank
  (a lower number). So the highest-ranked tracker holding the newest entry takes over, one at a time.
- With 3 or more trackers, standing, winning and staying primary all need a majority (itself included); a
  primary that hears fewer than a majority for ``timeout`` steps down. With 2, the survivor of a crash keeps
  serving: it wins when the other tracker does not answer, but not when the other answers "no".
- A vote is granted at most once per epoch (the voter adopts the candidate's epoch durably), only to a log at
  least as up to date as the voter's, and never while the voter still hears a live primary.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class PeerView:
    """What this tracker last heard from another tracker."""

    no: int
    heard_at: float | None  # when it last answered or pinged us (None: never)
    epoch: int = 0
    role: str = "secondary"
    last_index: int = 0
    last_epoch: int = 0
    refused: bool = False  # our last attempt found nothing listening there: it is surely not a live primary
    rejects_us: bool = False  # it answered but refused our signature (another cluster secret): it would vote no

    def alive(self, now: float, timeout: float) -> bool:
        return self.heard_at is not None and now - self.heard_at < timeout

    @property
    def position(self) -> tuple[int, int]:
        return (self.last_epoch, self.last_index)


@dataclass(frozen=True, slots=True)
class SelfView:
    no: int
    cluster_size: int
    epoch: int
    role: str
    last_index: int
    last_epoch: int
    primary_heard_at: float | None  # last sign of life of the primary we follow
    started_at: float

    @property
    def position(self) -> tuple[int, int]:
        return (self.last_epoch, self.last_index)


def next_epoch(highest_seen: int, me: int, cluster_size: int) -> int:
    """The epoch tracker ``me`` stands for: the first above every epoch it has seen that is its own (equal to its
    number modulo the cluster's size). Two trackers never lead one epoch, so ``(index, epoch)`` names one entry:
    with 2 trackers a survivor wins alone, and two that each won while the other was down once both led the epoch
    after the last they shared, and their logs then differed where the append check saw them agree."""
    epoch = highest_seen + 1
    return epoch + (me - epoch) % cluster_size


def majority(cluster_size: int) -> int:
    return cluster_size // 2 + 1


def should_stand(me: SelfView, peers: list[PeerView], now: float, timeout: float) -> bool:
    """Whether this secondary should ask to become primary now."""
    if me.role == "primary":
        return False
    if me.cluster_size == 1:
        return True
    if me.primary_heard_at is not None and now - me.primary_heard_at < timeout:
        return False
    reachable = [p for p in peers if p.alive(now, timeout)]
    # Just started: listen for a primary first, unless every peer answered or is not running. A better-ranked
    # peer that is not running yet may be starting right now (trackers started together): give it the window.
    unknown = [p for p in peers if not p.alive(now, timeout) and (not p.refused or p.no < me.no)]
    if now - me.started_at < timeout and unknown:
        return False
    if any(p.role == "primary" and p.epoch >= me.epoch for p in reachable):
        return False
    if me.cluster_size >= 3 and len(reachable) + 1 < majority(me.cluster_size):
        return False
    better = any(p.position > me.position or (p.position == me.position and p.no < me.no) for p in reachable)
    return not better


def without_majority(me: SelfView, peers: list[PeerView], now: float, timeout: float) -> bool:
    """Whether this secondary hears no primary and too few trackers to elect one (what it must tell an operator)."""
    if me.role == "primary" or me.cluster_size < 3:
        return False
    if me.primary_heard_at is not None and now - me.primary_heard_at < timeout:
        return False
    if now - me.started_at < timeout:
        return False  # just started: still listening
    reachable = [p for p in peers if p.alive(now, timeout)]
    if any(p.role == "primary" for p in reachable):
        return False
    return len(reachable) + 1 < majority(me.cluster_size)


def grant_vote(*, my_epoch: int, my_position: tuple[int, int], i_am_primary: bool, primary_heard_at: float | None,
               candidate_epoch: int, candidate_position: tuple[int, int], now: float, timeout: float) -> bool:
    if candidate_epoch <= my_epoch:
        return False  # an epoch gets one vote; an old candidate gets none
    if i_am_primary or (primary_heard_at is not None and now - primary_heard_at < timeout):
        return False  # a live primary exists: the candidate only lost sight of it
    return candidate_position >= my_position


def can_elect(cluster_size: int, reachable_others: int, rejecting_others: int = 0) -> bool:
    """Whether an election can end with a primary while ``reachable_others`` other trackers answer and
    ``rejecting_others`` refuse our signature: with 3 or more a majority must answer; with 2 or 1 the survivor wins
    alone (``won_election``: silence is no refusal), but not against a tracker that refuses it."""
    if cluster_size <= 2:
        return rejecting_others == 0
    return reachable_others + 1 >= majority(cluster_size)


def won_election(cluster_size: int, granted: int, refused: int) -> bool:
    """``granted`` and ``refused`` count the other trackers' answers; silent ones count as neither."""
    if cluster_size <= 2:
        return refused == 0
    return granted + 1 >= majority(cluster_size)


def should_step_down(me: SelfView, peers: list[PeerView], now: float, timeout: float, primary_since: float) -> bool:
    """A primary of 3 or more that has not heard a majority for ``timeout`` stops accepting writes."""
    if me.role != "primary" or me.cluster_size < 3 or now - primary_since < timeout:
        return False
    reachable = sum(1 for p in peers if p.alive(now, timeout))
    return reachable + 1 < majority(me.cluster_size)


def may_acknowledge(cluster_size: int, stored_elsewhere: int) -> bool:
    """After every live secondary was tried: enough copies (this tracker's included) to acknowledge a write?"""
    if cluster_size <= 2:
        return True  # the other either stored it or is down: the survivor of a crash keeps serving
    return stored_elsewhere + 1 >= majority(cluster_size)
