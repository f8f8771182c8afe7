"""``web_ui/live_rows``: each message of a page's event stream carries only what changed since its last."""

from __future__ import annotations

import json

from peer_node.web_ui.live_rows import BRIEF, LiveRows, brief


def _row(key: str, pct: int, state: str = "D") -> tuple[str, str]:
    return key, json.dumps({"key": key, "percent": pct, "state": state})


def test_the_first_message_has_everything_then_only_changes_and_nothing_when_nothing_changed() -> None:
    live = LiveRows()
    first = json.loads(live.update([_row("a", 1), _row("b", 5)], {"tracker": "t1", "uploads": "no limit"}) or "")
    assert first == {"order": ["a", "b"], "rows": [{"key": "a", "percent": 1, "state": "D"},
                                                   {"key": "b", "percent": 5, "state": "D"}],
                     "tracker": "t1", "uploads": "no limit"}
    assert live.update([_row("a", 1), _row("b", 5)], {"tracker": "t1", "uploads": "no limit"}) is None
    assert json.loads(live.update([_row("a", 2), _row("b", 5)], {"tracker": "t1", "uploads": "no limit"}) or "") == \
        {"rows": [{"key": "a", "percent": 2, "state": "D"}]}  # one row moved on: only it
    assert json.loads(live.update([_row("a", 2), _row("b", 5)], {"tracker": "t2", "uploads": "no limit"}) or "") == \
        {"tracker": "t2"}
    gone = json.loads(live.update([_row("b", 5)], {"tracker": "t2", "uploads": "no limit"}) or "")
    assert gone == {"order": ["b"]}  # a row removed: the order says so, no row is sent
    back = json.loads(live.update([_row("a", 2), _row("b", 5)], {"tracker": "t2", "uploads": "no limit"}) or "")
    assert back == {"order": ["a", "b"], "rows": [{"key": "a", "percent": 2, "state": "D"}]}  # the page forgot it


def test_a_brief_row_keeps_only_what_announcing_an_end_needs() -> None:
    row = {"key": "k", "group": "g", "name": "n", "state": "C", "announce": "n from g is complete.", "cells": "x" * 99}
    assert brief(row) == {name: row[name] for name in BRIEF} and "cells" not in brief(row)
