"""The console's news, without a terminal: which downloads are news, and a news line put under a waiting prompt's
line (a fresh prompt after it) or on a line of its own while a command runs."""

from __future__ import annotations

import asyncio
import io
import logging

from peer_node.console import PROMPT, Console
from peer_node.console_news import ConsoleLogHandler, ConsoleNews, news_of_downloads
from peer_node.views import DownloadState, DownloadView


def view(name: str, state: DownloadState, reason: str = "") -> DownloadView:
    return DownloadView("lab", name, f"/dl/{name}", state, 10, 10, 100, 0.0, None, (), reason=reason)


def test_a_download_that_finished_or_failed_since_the_last_look_is_news_and_nothing_else_is() -> None:
    before = {("lab", "a.bin"): DownloadState.RUNNING, ("lab", "b.bin"): DownloadState.RUNNING,
              ("lab", "c.bin"): DownloadState.COMPLETE, ("lab", "d.bin"): DownloadState.RUNNING}
    now = [view("a.bin", DownloadState.COMPLETE), view("b.bin", DownloadState.FAILED, "no seeder reachable"),
           view("c.bin", DownloadState.COMPLETE), view("d.bin", DownloadState.RUNNING),
           view("e.bin", DownloadState.COMPLETE)]  # started and done between two looks
    assert news_of_downloads(before, now) == [
        "[C] lab a.bin: download complete, saved as /dl/a.bin",
        "[F] lab b.bin: download failed: no seeder reachable",
        "[C] lab e.bin: download complete, saved as /dl/e.bin",
    ]
    assert news_of_downloads(None, now) == []  # the first look: what was there already is not news


def test_news_goes_above_a_waiting_prompt_and_a_warning_is_news_too() -> None:
    out = io.StringIO()
    console = Console(None, asyncio.new_event_loop(), lambda: None, out=out, inp=io.StringIO())  # type: ignore[arg-type]
    console.say("[C] lab a.bin: download complete")  # while a command runs: a line of its own
    console._prompt()
    console.say("You are in lab: your request to join was accepted.")
    handler = ConsoleLogHandler(console.say)
    handler.handle(logging.LogRecord("peer_node.x", logging.WARNING, __file__, 1, "now using tracker %s", ("t2",),
                                     None))
    text = out.getvalue()
    assert text.startswith("\r\x1b[K[C] lab a.bin: download complete\n" + PROMPT)  # erases a progress bar
    # at the prompt: under its line (what was typed there stays in sight), and a fresh prompt
    assert f"{PROMPT}\nYou are in lab: your request to join was accepted.\n{PROMPT}" in text
    assert text.endswith(f"WARNING: now using tracker t2\n{PROMPT}")


def test_a_line_of_news_cannot_command_the_terminal() -> None:
    """What a warning quotes may come from another party (a path, a peer's words): its escape sequences would set
    the title, write the clipboard or erase lines. Only the console's own codes reach the terminal."""
    out = io.StringIO()
    console = Console(None, asyncio.new_event_loop(), lambda: None, out=out, inp=io.StringIO())  # type: ignore[arg-type]
    console.say("peer said goodbye: \x1b]52;c;cm0gLXJmIH4=\x07\x1b[2K done\nsecond line")
    assert out.getvalue() == "\r\x1b[Kpeer said goodbye: \ufffd]52;c;cm0gLXJmIH4=\ufffd\ufffd[2K done\nsecond line\n"


class _Node:
    """What ConsoleNews reads of a node, set by hand."""

    def __init__(self) -> None:
        self.state = self
        self.session: object | None = object()
        self.listed: list[DownloadView] = []
        self.pending: dict[str, int] | None = {}
        self.asking: dict[str, tuple[str, ...]] = {}

    def downloads(self) -> list[DownloadView]:
        return self.listed

    def poll_groups(self) -> None:
        pass

    def join_answers_since(self, seq: int | None) -> tuple[list[object], int]:
        return [], 0

    def pending_requests(self) -> dict[str, int] | None:
        return self.pending

    def requesters(self) -> dict[str, tuple[str, ...]]:
        return self.asking


def test_a_logout_and_login_do_not_tell_old_downloads_again_and_new_requests_say_how_to_see_who() -> None:
    node, news = _Node(), ConsoleNews()
    node.listed = [view("a.bin", DownloadState.RUNNING)]
    assert news.round(node) == []  # type: ignore[arg-type]
    node.listed = [view("a.bin", DownloadState.COMPLETE)]
    assert news.round(node) == ["[C] lab a.bin: download complete, saved as /dl/a.bin"]  # type: ignore[arg-type]
    node.session = None  # logout
    assert news.round(node) == []  # type: ignore[arg-type]
    node.session = object()  # login again: a.bin is old news
    assert news.round(node) == []  # type: ignore[arg-type]
    node.pending, node.asking = {"lab": 1}, {"lab": ("carol",)}
    assert news.round(node) == ["A new request to join lab. Type list_requests lab to see who."]  # type: ignore[arg-type]
    node.asking = {"lab": ("bob",)}  # carol withdrew and bob asked between two looks: the same count, news all the same
    assert news.round(node) == ["A new request to join lab. Type list_requests lab to see who."]  # type: ignore[arg-type]


class _Gone(io.StringIO):
    def write(self, text: str) -> int:
        raise OSError(5, "Input/output error")  # the terminal was closed


def test_a_console_whose_terminal_is_gone_or_that_was_closed_writes_nothing_and_raises_nothing() -> None:
    gone = Console(None, asyncio.new_event_loop(), lambda: None, out=_Gone(), inp=io.StringIO())  # type: ignore[arg-type]
    gone.say("[C] lab a.bin: download complete")  # no OSError out of a logging handler or the news task
    gone.say("again")
    out = io.StringIO()
    closed = Console(None, asyncio.new_event_loop(), lambda: None, out=out, inp=io.StringIO())  # type: ignore[arg-type]
    closed._prompt()
    closed.close()  # the node stops: the shell's prompt comes next, on a line of its own
    closed.say("late news")
    assert out.getvalue() == PROMPT + "\n"
