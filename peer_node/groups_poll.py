"""When an open page makes the node list the groups again, to bring news to that page: an owner's answer to the
user's request to join (``join_answers``) and new requests to join the groups the user owns.

The tracker pushes nothing to nodes, so an open page's event stream has the node ask, at most every ``POLL_S``
(``--groups-poll``: tests make it short) however many tabs are open, while news is expected: the user waits for an
answer, owns a group, or the node has not listed the groups yet in this run. Otherwise it still asks every
``QUIET_POLL_S``: a user who owns nothing may become an owner without this node listing the groups (a group made
from a script, or passed on by a leaving owner). One ``GET /groups`` answers both questions.

Pure: ``now`` is passed in.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from peer_node.natural_order import natural_key

POLL_S = 5.0
QUIET_POLL_S = 30.0


@dataclass
class GroupsPoll:
    interval: float = POLL_S  # while news is expected
    polled_at: float = -math.inf

    def due(self, now: float, *, waiting: bool, owned: Mapping[str, int] | None) -> bool:
        """Whether to ask now (and, if so, count this as the poll). ``owned``: the pending requests of each group
        the user owns, as last listed (None: not listed yet)."""
        expected = waiting or owned is None or bool(owned)
        if now - self.polled_at < (self.interval if expected else max(self.interval, QUIET_POLL_S)):
            return False
        self.polled_at = now
        return True


def new_requests(before: Mapping[str, int], now: Mapping[str, int],
                 asked_before: Mapping[str, Sequence[str]] | None = None,
                 asked_now: Mapping[str, Sequence[str]] | None = None) -> dict[str, int]:
    """The owned groups with requests that were not there before, and how many. Where both listings name who asks
    (``asked_before``, ``asked_now``), by name: one request withdrawn and another made in between is one new, not
    none; otherwise by the counts."""
    out = {}
    for gid, n in sorted(now.items()):
        was, is_ = (asked_before or {}).get(gid), (asked_now or {}).get(gid)
        fresh = len(set(is_) - set(was)) if was is not None and is_ is not None else n - before.get(gid, 0)
        if fresh > 0:
            out[gid] = fresh
    return out


def requests_text(new: Mapping[str, int]) -> str:
    """The notice for new requests: "A new request to join physics." / "2 new requests to join lab." For three
    groups or more, one sentence: "5 new requests to join lab-1, lab-2 and 2 more groups." (a term's first week
    brings dozens at once)."""
    if len(new) >= 3:
        groups = sorted(new, key=natural_key)
        named = ", ".join(groups[:2]) + f" and {len(groups) - 2} more group{'s' if len(groups) > 3 else ''}"
        return f"{sum(new.values())} new requests to join {named}."
    return " ".join(f"A new request to join {gid}." if n == 1 else f"{n} new requests to join {gid}."
                    for gid, n in new.items())
