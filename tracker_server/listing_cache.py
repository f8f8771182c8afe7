"""Each group's encoded ``list_files`` answer, kept between requests until something it depends on changes.

Theory of operation: ``list_files`` is half of the hot path's requests, and its answer (the group's files that
have a live whole-file seeder, with how many) changes far less often than it is asked for. An answer is kept
with what it was computed from: the ``State`` object and its ``version`` (every applied entry: shares,
membership, logins, logouts, also on a secondary and after a reload), the ``Liveness.version`` (a session that
may have come alive, or was forgotten) and the group's ``Liveness.group_version`` (a heartbeat that changed what
kind of holding a session reports for one of the group's files). Sessions dying by the clock change no counter,
so an answer also keeps the oldest last-seen stamp among the sessions it counted and the time it was computed:
it is used only while that session is still live by the same test as ``Liveness.is_live`` and the clock has not
gone back. A hit is then the answer a fresh computation would give at that moment (tests/tracker/
test_listing_cache.py compares the two after random sequences of operations). Pure: ``now`` is passed in.
"""

from __future__ import annotations

from dataclasses import dataclass

from tracker_server.liveness import Liveness
from tracker_server.state import State


@dataclass(frozen=True, slots=True)
class _Answer:
    body: bytes
    group_version: int
    computed_at: float
    oldest_seen: float  # the oldest last-seen stamp among the counted sessions (inf when none was counted)


class ListingCache:
    def __init__(self) -> None:
        self._answers: dict[str, _Answer] = {}
        self._state: State | None = None
        self._state_version = -1
        self._live_version = -1

    def _current(self, state: State, live: Liveness) -> bool:
        return state is self._state and state.version == self._state_version and live.version == self._live_version

    def get(self, state: State, live: Liveness, group_id: str, now: float) -> bytes | None:
        if not self._current(state, live):
            return None
        answer = self._answers.get(group_id)
        if answer is None or answer.group_version != live.group_version.get(group_id, 0) \
                or not answer.computed_at <= now or not abs(now - answer.oldest_seen) < live.peer_timeout:
            return None
        return answer.body

    def put(self, state: State, live: Liveness, group_id: str, now: float, body: bytes, oldest_seen: float) -> None:
        if not self._current(state, live):  # everything kept so far is stale: drop it (deleted groups too)
            self._answers.clear()
            self._state, self._state_version, self._live_version = state, state.version, live.version
        self._answers[group_id] = _Answer(body, live.group_version.get(group_id, 0), now, oldest_seen)
