"""What a change to the node's state puts back when its save fails: the value on disk, which is not always the
value before the change.

A change is made in memory first, then saved (``state_writes``); if the disk refuses, the change is undone, so what
the node acts on and what it would find after a restart do not part. Changes to one record may overlap: A (X to
Y) and B (Y to Z), both saving. If both saves fail, undoing B must put back X, the value on disk: Y was never
stored. So each record (a *slot*) with saves in flight remembers the newest value known stored: the one before its
first change, then the value of each save that succeeds (by the order the saves were asked for: a success heard
late never overrides a newer one). A failed save puts that value back, and only when its change is still the
newest one in memory: a later change, its own save still to come, decides for itself. A slot is forgotten once
no save of it is in flight: from then on what memory holds is what the disk holds.
"""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from peer_node.state_writes import StateNotSaved

T = TypeVar("T")


@dataclass(slots=True)
class _Slot(Generic[T]):
    stored: T | None  # the newest value known on disk (None: no record)
    stored_by: int  # the number of the save that stored it (0: it was there before)
    in_flight: int = 0


class SaveUndo:
    def __init__(self) -> None:
        self._slots: dict[Hashable, _Slot[Any]] = {}  # the slots with saves in flight
        self._numbers = itertools.count(1)

    async def save(self, slot: Hashable, before: T | None, after: T | None, current: Callable[[], T | None],
                   put_back: Callable[[T | None], None], save: Callable[[], Awaitable[None]], *,
                   keep_unsaved: bool = False) -> None:
        """Save the change of ``slot`` from ``before`` to ``after`` (already made in memory; ``current`` reads
        it, ``put_back`` sets it, None meaning absent). If the save fails, put back the value on disk unless
        ``keep_unsaved`` (the change is to hold in memory all the same) or a later change replaced ours; then
        raise StateNotSaved."""
        state = self._slots.get(slot)
        if state is None:
            state = self._slots[slot] = _Slot(before, 0)
        state.in_flight += 1
        number = next(self._numbers)
        try:
            await save()
        except StateNotSaved:
            if not keep_unsaved and current() is after:
                put_back(state.stored)
            raise
        else:
            if number > state.stored_by:
                state.stored, state.stored_by = after, number
        finally:
            state.in_flight -= 1
            if state.in_flight == 0:
                del self._slots[slot]
