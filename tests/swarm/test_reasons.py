"""A failed download says why each member's node could not help in plain words, not Python's."""

from __future__ import annotations

import pytest

from peer_node.swarm.reasons import plain_reason, stuck_reason
from peer_node.web_ui.download_words import reason_words


@pytest.mark.parametrize(("cause", "said"), [
    (ConnectionRefusedError(111, "Connect call failed ('127.0.0.1', 30421)"),
     "their node is not running (connection refused)"),
    (TimeoutError(), "their node did not answer in time"),
    (ConnectionResetError(104, "Connection reset by peer"), "the connection was cut"),
    (OSError(113, "No route to host"), "no route to host"),
    ("peer said goodbye: file not served here", "their node does not share this file now"),
    ("peer said goodbye: file no longer served", "their node stopped sharing this file"),
    ("peer said goodbye: access denied: token for another file", "their node refused our access to the file"),
    ("peer said goodbye: token expired", "our access to the file ran out, so their node stopped sending (the next "
                                         "try gets new access by itself)"),
    ("peer stalled", "peer stalled"),  # already words: kept
])
def test_causes_read_as_words(cause: BaseException | str, said: str) -> None:
    assert plain_reason(cause) == said


def test_an_access_that_ran_out_says_what_happened_and_that_the_node_renews_it_on_a_failed_downloads_row() -> None:
    said = plain_reason("peer said goodbye: token expired")
    assert len(said) <= 120  # whole in a failure's message (Roster.last_errors cuts each peer's reason there)
    reason = "no seeder reachable (bob: " + said + ")"
    assert reason_words(reason) == ("No member who has it can be reached (bob: our access to the file ran out, so "
                                    "their node stopped sending (the next try gets new access by itself)).")


def test_a_download_nobody_helps_says_why_it_ends() -> None:
    assert stuck_reason("f.bin", unlisted=True, all_banned=False, errors="alice: their node is not running") == (
        "nobody shares f.bin now (it is no longer on the group's list; alice: their node is not running)", False)
    assert stuck_reason("f.bin", unlisted=False, all_banned=True, errors="") == (
        "every member who has the rest sent damaged pieces (their copy changed since it was shared)", True)
    assert stuck_reason("f.bin", unlisted=False, all_banned=False, errors="") == ("no seeder reachable", False)
