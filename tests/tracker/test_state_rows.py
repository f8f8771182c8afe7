"""The state is read and built in a worker thread; in a process that freezes its state (the tracker's), with
collections paused meanwhile and the state frozen when built (state_rows.py says why)."""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from tracker_server import state_rows
from tracker_server.keys import STORE
from tracker_server.state import State
from tracker_server.store import Store

from .helpers import Api


@pytest.fixture
def freezing_process() -> Iterator[None]:
    """As the tracker process after its start (``__main__._tune_gc``); undone after."""
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def _watch_build(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, bool]]:
    """(thread, collections on) as each build runs."""
    seen: list[tuple[str, bool]] = []
    real = state_rows.build_state

    def build_state(rows: state_rows.StateRows) -> State:
        seen.append((threading.current_thread().name, gc.isenabled()))
        return real(rows)

    monkeypatch.setattr(state_rows, "build_state", build_state)
    return seen


async def test_in_a_freezing_process_the_state_is_built_without_collections_and_frozen(
        api: Api, monkeypatch: pytest.MonkeyPatch, freezing_process: Any) -> None:
    await api.user("alice")
    seen = _watch_build(monkeypatch)
    frozen = gc.get_freeze_count()
    store: Store = api.client.app[STORE]
    state = await store.load_state()
    assert "alice" in state.users
    assert seen == [(seen[0][0], False)] and seen[0][0] != threading.main_thread().name
    assert gc.isenabled() and gc.get_freeze_count() > frozen  # collections back on; what was built, frozen


async def test_elsewhere_the_collector_is_left_as_it_is(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    seen = _watch_build(monkeypatch)
    frozen = gc.get_freeze_count()
    await api.client.app[STORE].load_state()
    assert seen == [(seen[0][0], True)] and seen[0][0] != threading.main_thread().name
    assert gc.get_freeze_count() == frozen
