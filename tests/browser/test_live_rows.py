"""``web_ui/live_rows``: each message of a page's event stream carries only what changed since its last."""

from __future__ import annotations

import json

from peer_node.views import DownloadState, DownloadView, NodeStatus
from peer_node.web_ui.events import downloads_round
from peer_node.web_ui.live_rows import LiveRows
from peer_node.web_ui.pages import view_states


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


def _download(name: str, state: DownloadState, pieces: str) -> DownloadView:
    return DownloadView(group_id="g", file_name=name, destination=f"/dl/{name}", state=state, size=1000,
                        bytes_done=0, percent=pieces.count("d") * 100 // len(pieces), speed_bps=0.0, eta_s=None,
                        peers=(), piece_states=pieces, started_at=1.0)


def test_a_view_of_the_downloads_page_gets_its_own_rows_whole_and_the_others_brief() -> None:
    node = NodeStatus(user_id="alice", piece_addr="127.0.0.1:1", tracker=None, tracker_rank=None, failed_over=False)
    running = _download("run.bin", DownloadState.RUNNING, "dd" + "." * 500)
    done = _download("done.bin", DownloadState.COMPLETE, "d" * 500)
    live = LiveRows()
    first = json.loads(downloads_round(live, [running, done], node, full=view_states("D")) or "")
    rows = {row["name"]: row for row in first["rows"]}
    assert "cells" in rows["run.bin"] and set(rows["done.bin"]) == {"key", "group", "name", "state", "announce"}
    # The running one completes: it leaves the view, so it goes brief; nothing else is sent again.
    finished = _download("run.bin", DownloadState.COMPLETE, "d" * 502)
    later = json.loads(downloads_round(live, [finished, done], node, full=view_states("D")) or "")
    assert later["rows"] == [{"key": rows["run.bin"]["key"], "group": "g", "name": "run.bin", "state": "C",
                              "announce": "run.bin from g is complete."}]
    # The Complete view, and a page without download rows (full=""), ask for the other rows whole, or for none.
    complete = json.loads(downloads_round(LiveRows(), [finished, done], node, full=view_states("C")) or "")
    assert all("cells" in row for row in complete["rows"])
    brief = json.loads(downloads_round(LiveRows(), [finished, done], node, full="") or "")
    assert all("cells" not in row for row in brief["rows"]) and len(brief["rows"]) == 2
    assert view_states("all") == view_states("nonsense") == "DPFC"
