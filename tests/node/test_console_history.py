"""What the prompt's history keeps (never a password), and its file: bounded, mode 0600, read back through the
same rule."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from peer_node.console_history import HISTORY_LINES, history_entry, load_history, save_history


def test_a_password_never_enters_the_history_but_the_rest_of_its_line_does() -> None:
    assert history_entry("login alice s3cret") == "login alice"
    assert history_entry("create_user 'bob smith' 'pass word'  ") == "create_user 'bob smith'"
    assert history_entry("login alice") == "login alice"  # too few words: nothing to hide
    assert history_entry("login alice s3cret and more") == "login alice"
    assert history_entry("login 'alice s3cret") is None  # unclosed quote: which word is the password is unknown


def test_an_unknown_command_a_blank_line_and_a_line_begun_with_a_space_are_not_kept() -> None:
    assert history_entry("logn alice s3cret") is None  # a mistyped login holds a password too
    assert history_entry("Login alice s3cret") is None
    assert history_entry("quit") is None
    assert history_entry("   ") is None
    assert history_entry(" list_groups") is None  # bash's ignorespace
    assert history_entry("list_files \udcff") is None  # not UTF-8: refused by the console anyway


@pytest.mark.parametrize("separator", ["\x0b", "\x0c", "\x1e", "\x85", "\u2028", "\u2029"])
def test_a_line_that_reads_back_as_two_is_not_kept(tmp_path: Path, separator: str) -> None:
    """The file is read back by ``str.splitlines``, which also ends a line at these (a pasted U+2028): kept, the
    line of an innocent command would carry a password into the file, hidden in its second half."""
    line = f"list_files g1{separator}login alice s3cret"
    assert history_entry(line) is None
    path = tmp_path / "console-history"
    save_history(path, ["help", line])
    assert "s3cret" not in path.read_text(encoding="utf-8")


def test_a_line_with_a_control_character_is_not_kept_nor_loaded(tmp_path: Path) -> None:
    """A NUL (a damaged file) would make readline's add_history raise, and the prompt lose its line editing."""
    assert history_entry("list_files g\x00") is None
    assert history_entry("list_files \x1b[2Jg1") is None
    path = tmp_path / "console-history"
    path.write_bytes(b"help\nlist_files g\x00\nlist_groups\n")
    assert load_history(path) == ["help", "list_groups"]


def test_a_line_with_more_words_than_its_command_takes_is_not_kept() -> None:
    """It could not run (``usage: ...``), and what is past the command's arguments may be anything: ``logout`` typed
    (or Tab-completed from ``lo``) for ``login`` holds a password as much as a mistyped ``logn``."""
    assert history_entry("logout alice s3cret") is None
    assert history_entry("logout 'alice s3cret") is None  # an unclosed quote: counted as if it were closed
    assert history_entry("list_files g1 s3cret") is None
    assert history_entry("logout") == "logout"
    assert history_entry("download_file g1 'a b.txt' /tmp/x") == "download_file g1 'a b.txt' /tmp/x"


def test_other_commands_are_kept_as_typed_an_unclosed_quote_too() -> None:
    assert history_entry("list_files g1 ") == "list_files g1"
    assert history_entry("upload_file 'my notes.txt g1") == "upload_file 'my notes.txt g1"  # to put right


def test_the_file_holds_the_newest_entries_with_mode_0600_and_is_read_back(tmp_path: Path) -> None:
    path = tmp_path / "console-history"
    entries = [f"list_files g{i}" for i in range(HISTORY_LINES + 5)]
    save_history(path, entries)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_history(path) == entries[-HISTORY_LINES:]
    assert len(path.read_text(encoding="utf-8").splitlines()) == HISTORY_LINES
    save_history(path, ["help"])  # rewritten whole
    assert path.read_text(encoding="utf-8") == "help\n"


def test_a_password_line_in_the_file_is_neither_loaded_nor_written_again(tmp_path: Path) -> None:
    path = tmp_path / "console-history"
    path.write_text("help\nlogin alice s3cret\nlist_groups\n", encoding="utf-8")  # edited by hand
    assert load_history(path) == ["help", "list_groups"]
    save_history(path, ["help", "login alice s3cret"])
    assert path.read_text(encoding="utf-8") == "help\n"


def test_a_history_that_cannot_be_read_is_none(tmp_path: Path) -> None:
    assert load_history(tmp_path / "missing") == []
    (tmp_path / "dir").mkdir()
    assert load_history(tmp_path / "dir") == []
