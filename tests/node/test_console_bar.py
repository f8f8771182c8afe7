"""The console's progress bar (pure rendering) and its throttling."""

from __future__ import annotations

import io

from peer_node.console import ProgressBar, render_bar


def test_bar_is_empty_at_start_and_full_at_the_end() -> None:
    assert render_bar(0, 1024, width=10).startswith("[..........]   0%")
    assert render_bar(1024, 1024, width=10).startswith("[##########] 100%")


def test_bar_shows_sizes_in_binary_units() -> None:
    # the browser's units: decimal, as file managers show them
    assert render_bar(512 * 1024 * 1024, 2 * 1024**3, width=4) == "[#...]  25%  537 MB of 2.1 GB"


def test_empty_file_counts_as_done() -> None:
    assert "100%" in render_bar(0, 0)


def test_bar_redraws_at_most_every_interval_but_always_at_the_end() -> None:
    out = io.StringIO()
    bar = ProgressBar(out.write, every_s=3600)
    for done in range(0, 100, 10):
        bar(done, 100)
    bar(100, 100)
    bar.finish()
    text = out.getvalue()
    assert text.count("\r") == 2 and "100%" in text and text.endswith("\n")


def test_a_finished_bar_draws_nothing_more() -> None:
    """The hashing thread may report once more before it sees the upload was stopped: not over the shell's prompt."""
    out = io.StringIO()
    bar = ProgressBar(out.write)
    bar(10, 100)
    bar.finish()
    bar.finish()
    bar(20, 100)
    assert out.getvalue().count("\r") == 1 and out.getvalue().endswith("\n")
