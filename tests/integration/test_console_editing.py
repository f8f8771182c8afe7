"""Line editing at the node's prompt on a real terminal (a pty): the arrow keys edit the line and bring back the
last command, Tab completes (group ids and file names too, those of the user logged in), the history outlives a
restart without a password in it, news leaves the line being typed as it was, and a node stopped at the prompt
gives the terminal back as it found it. With stdout redirected, the prompt reads plain lines as before."""

from __future__ import annotations

import os
import re
import signal
import stat
import termios
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.ports import free_port
from tests.support.cluster import ROOT, Cluster, wait_until
from tests.support.terminal import Terminal

LEFT, UP, DOWN = b"\x1b[D", b"\x1b[A", b"\x1b[B"
PROMPT = b"groupshare> "
HELP_ROW = b"download_file <group_id> <file_name> <destination_path>"


def node_argv(tmp_path: Path, tracker_list: Path, data_dir: Path) -> list[str]:
    return [str(ROOT / "client"), f"127.0.0.1:{free_port()}", str(tracker_list), "--web-port", str(free_port()),
            "--data-dir", str(data_dir), "--tracker-retry", "1", "--groups-poll", "0.5"]


@pytest.fixture
def start() -> Iterator[list[Terminal]]:
    """Nodes on terminals of their own (the tracker list names a port where none listens: none is needed)."""
    started: list[Terminal] = []
    try:
        yield started
    finally:
        for term in started:
            term.close()


def open_node(started: list[Terminal], tmp_path: Path, tracker_list: Path | None = None,
              stdout_too: bool = True) -> Terminal:
    if tracker_list is None:
        tracker_list = tmp_path / "nobody.txt"
        tracker_list.write_text(f"127.0.0.1:{free_port()}\n", encoding="utf-8")
    term = Terminal(node_argv(tmp_path, tracker_list, tmp_path / "node"), tmp_path, env={"TERM": "xterm"},
                    stdout_too=stdout_too)
    started.append(term)
    return term


def stop(term: Terminal) -> None:
    term.type("quit")
    wait_until(lambda: term.proc.poll() is not None, 30, "the node to stop on quit")


def test_a_line_edited_with_the_arrow_keys_runs_as_edited_and_up_brings_back_the_last_command(
        start: list[Terminal], tmp_path: Path) -> None:
    term = open_node(start, tmp_path)
    term.expect(PROMPT)
    term.keys(b"hlp" + LEFT + LEFT + b"e\r")  # "help", put right where the typo is
    assert HELP_ROW in term.expect(PROMPT)
    term.keys(UP + b"\r")
    assert HELP_ROW in term.expect(PROMPT)  # the same command again
    stop(term)


def test_tab_completes_a_command_name_and_a_path(start: list[Terminal], tmp_path: Path) -> None:
    (tmp_path / "my notes.txt").write_text("notes\n", encoding="utf-8")
    (tmp_path / "photos").mkdir()
    term = open_node(start, tmp_path)
    term.expect(PROMPT)
    term.keys(b"upload_f\t")
    term.expect(b"upload_file ")
    term.keys(b"my\t")
    term.expect(b"\\ notes.txt ")  # quoted as parse_line splits it: one word
    term.keys(b"\x15upload_file ph\t")  # Ctrl-U erased the line; a folder is completed into
    term.expect(b"otos/")
    term.keys(b"\x15hel\t\r")
    out = term.expect(PROMPT)
    assert HELP_ROW in out
    # said where Tab completes: at a terminal's prompt
    assert re.search(rb"\nTab +complete a command, a path, or one of your group ids, file names or requests to "
                     rb"join\r\n", out), out
    stop(term)


def tab_until(term: Terminal, shown: bytes, timeout: float = 30.0) -> None:
    """Press Tab until ``shown`` comes: what a Tab finds missing is asked of the tracker, and waited for only a
    moment (a loaded machine may need the next Tab; a Tab too many, past the completed word, completes nothing
    there: no path starts so)."""
    deadline = time.monotonic() + timeout
    while True:
        term.keys(b"\t")
        try:
            term.expect(shown, timeout=1.0)
            return
        except AssertionError:
            assert time.monotonic() < deadline, f"Tab did not complete to {shown!r}"


def test_tab_completes_group_ids_and_file_names_the_tracker_knows_and_forgets_them_at_logout(
        start: list[Terminal], tmp_path: Path) -> None:
    (tmp_path / "it's my report.txt").write_text("report\n", encoding="utf-8")
    with Cluster(tmp_path / "cluster", trackers=1) as c:
        c.start_tracker(1)
        term = open_node(start, tmp_path, c.list_path)
        term.expect(PROMPT)
        for line in ("create_user olga olga-pw-1234", "login olga olga-pw-1234", "create_group lab",
                     "upload_file \"it's my report.txt\" lab"):
            term.type(line)
            term.expect(PROMPT)
        term.keys(b"download_file la\t")
        term.expect(b"download_file lab ")  # the group made here: known at once
        tab_until(term, b"it\\'s\\ my\\ report.txt ")  # its files listed meanwhile; escaped as parse_line reads it
        term.keys(b"copy.txt\r")
        assert b"downloading it's my report.txt from lab to " in term.expect(PROMPT)

        for line in ("logout", "create_user pat pat-pw-1234", "login pat pat-pw-1234"):
            term.type(line)
            term.expect(PROMPT)
        term.keys(b"list_files la\t\r")  # olga's groups are not pat's: nothing to complete, the line runs as typed
        out = term.expect(PROMPT)
        assert out.endswith(b"list_files la\r\nerror: no such group: la\r\n" + PROMPT), out
        term.keys(b"join_group la")
        tab_until(term, b"join_group lab ")  # pat's own listing: a group pat is not in
        term.keys(b"\x15")
        stop(term)


def test_the_history_outlives_a_restart_and_keeps_no_password(start: list[Terminal], tmp_path: Path) -> None:
    term = open_node(start, tmp_path)
    term.expect(PROMPT)
    term.type("login alice s3cret-pw-77")  # fails (no tracker): kept all the same, without its password
    assert b"error: " in term.expect(PROMPT)
    term.type("help")
    term.expect(PROMPT)
    stop(term)
    history = tmp_path / "node" / "console-history"
    assert history.read_text(encoding="utf-8") == "login alice\nhelp\n"
    assert stat.S_IMODE(history.stat().st_mode) == 0o600

    term = open_node(start, tmp_path)
    term.expect(PROMPT)
    term.keys(UP)
    term.expect(b"help")
    term.keys(UP)
    term.expect(b"login alice")
    # A password typed after the recalled line, which is left for the next one down: readline would keep it in
    # the line it was typed into
    term.keys(b" s3cret-pw-77" + DOWN + b"\r")
    assert HELP_ROW in term.expect(PROMPT)
    term.type("login alice s3cret-pw-77")
    term.expect(PROMPT)
    stop(term)
    assert history.read_text(encoding="utf-8") == "login alice\nhelp\nlogin alice\n"


def test_news_arriving_while_a_line_is_typed_goes_above_it_and_leaves_it_as_typed(
        start: list[Terminal], tmp_path: Path) -> None:
    with Cluster(tmp_path / "cluster", trackers=1) as c:
        c.start_tracker(1)
        term = open_node(start, tmp_path, c.list_path)
        term.expect(PROMPT)
        for line in ("create_user olga olga-pw-1234", "login olga olga-pw-1234", "create_group lab"):
            term.type(line)
            term.expect(PROMPT)
        bob = c.start_node("bob")
        bob.login()
        term.keys(b"list_gro")  # half typed when the news comes
        term.expect(b"list_gro")
        bob.ok("join_group lab")
        news = b"A new request to join lab. Type list_requests lab to see who."
        shown = term.expect(news + b"\r\n" + PROMPT + b"list_gro")
        # The line erased, the news where it was, and under it the prompt drawn again with the line as typed
        assert re.fullmatch(rb"\r\x1b\[K\r?" + re.escape(news + b"\r\n" + PROMPT + b"list_gro"), shown), shown
        term.keys(b"ups\r")
        assert b"lab\tolga\t1\towner" in term.expect(PROMPT)  # the line ran as typed, before and after the news
        stop(term)


def test_a_node_stopped_at_the_prompt_gives_the_terminal_back_with_echo(start: list[Terminal],
                                                                       tmp_path: Path) -> None:
    term = open_node(start, tmp_path)
    term.expect(PROMPT)
    term.keys(b"hel")  # readline holds the terminal: no echo, no line discipline
    term.expect(b"hel")
    assert not termios.tcgetattr(term.master)[3] & termios.ECHO
    os.killpg(term.proc.pid, signal.SIGINT)  # Ctrl-C
    wait_until(lambda: term.proc.poll() is not None, 30, "the node to stop on Ctrl-C")
    assert term.proc.returncode == 0
    lflag = termios.tcgetattr(term.master)[3]
    assert lflag & termios.ECHO and lflag & termios.ICANON  # the shell after it gets a usable terminal


def test_with_stdout_redirected_the_prompt_reads_plain_lines_as_before(start: list[Terminal],
                                                                      tmp_path: Path) -> None:
    term = open_node(start, tmp_path, stdout_too=False)
    term.keys(b"hlp" + LEFT + b"\r")  # no editing: the escape sequence is part of the line
    term.type("quit")
    wait_until(lambda: term.proc.poll() is not None, 30, "the node to stop on quit")
    assert term.proc.stdout is not None
    out = term.proc.stdout.read()
    assert b"groupshare> error: unknown command 'hlp\\x1b[D'; try help\ngroupshare> " in out
    assert not (tmp_path / "node" / "console-history").exists()
